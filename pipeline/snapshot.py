"""One snapshot, end to end: fetch -> land -> normalize -> commit -> catalog. The CLI and Dagster both call this.

Everything after the fetch reads only the sealed raw set, which is why `renormalize` can rebuild any
snapshot from its landing with the very same code.
"""

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from pipeline.config import Config
from pipeline.fetch import Fetcher
from pipeline.lake.catalog import build_catalog
from pipeline.lake.docs import SQL_ROOT, table_docs
from pipeline.lake.landing import CallRecord, RawLanding
from pipeline.lake.layout import Layout, new_write_id, snapshot_at_of, snapshot_id_for
from pipeline.lake.normalize import BodyRef, normalize
from pipeline.lake.store import Manifest, collect_garbage, commit, read_manifests, writer_lock
from pipeline.modelarts import Credentials
from pipeline.modelarts.credentials import AkSkCredentials, TokenCredentials

log = logging.getLogger(__name__)

POOL_SOURCES = ("list_pools", "show_pool")
EXIT_CODES = {"complete": 0, "partial": 3, "failed": 1}


@dataclass
class SnapshotResult:
    snapshot_id: str
    status: str
    targets: int
    targets_ok: int
    targets_failed: int
    pools: int
    rejected: int
    rows: dict[str, int]
    errors_by_code: dict[str, int] = field(default_factory=dict)
    manifest: Manifest | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


def load_credentials(config: Config, environ: Mapping[str, str] | None = None) -> Credentials:
    env = os.environ if environ is None else environ
    if config.credentials.method == "token":
        return TokenCredentials.from_env(env)
    return AkSkCredentials.from_env(env)


def _sql(name: str) -> str:
    return (SQL_ROOT / "normalize" / f"{name}.sql").read_text(encoding="utf-8")


def _run_tables(raw_dir: Path, layout: Layout, out_dir: Path, snapshot_id: str, snapshot_at: datetime,
                pools: int, rejected: int) -> dict[str, int]:
    """`fetches` and `snapshots` from the raw set's call log."""
    run = _read_run(raw_dir)
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        params = {
            "snapshot_id": snapshot_id,
            "snapshot_at": snapshot_at,
            "calls": str(raw_dir / "calls.jsonl"),
            "raw_dir": str(raw_dir.relative_to(layout.root)),
        }
        con.execute("CREATE TEMP TABLE fetches_rows AS " + _sql("fetches"), params)
        target = out_dir / "fetches.parquet"
        con.execute(f"COPY fetches_rows TO '{_lit(target)}' (FORMAT parquet, COMPRESSION zstd)")
        fetches = con.execute("SELECT count(*) FROM fetches_rows").fetchone()[0]
        target = out_dir / "snapshots.parquet"
        con.execute(
            f"COPY ({_sql('snapshots')}) TO '{_lit(target)}' (FORMAT parquet, COMPRESSION zstd)",
            {
                "snapshot_id": snapshot_id, "snapshot_at": snapshot_at, "pools": pools, "rejected": rejected,
                "started_at": run.get("started_at"), "finished_at": run.get("sealed_at"),
            },
        )
    finally:
        con.close()
    return {"fetches": int(fetches), "snapshots": 1}


def _lit(path: Path) -> str:
    return str(path).replace("'", "''")


def _read_run(raw_dir: Path) -> dict:
    import json

    try:
        return json.loads((raw_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _status_of(out_dir: Path) -> dict:
    con = duckdb.connect(":memory:")
    try:
        rel = con.execute(
            "SELECT status, targets, targets_ok, targets_failed FROM read_parquet(?)",
            [str(out_dir / "snapshots.parquet")],
        ).fetchone()
        codes = con.execute(
            "SELECT coalesce(error_code, 'http_' || http_status, 'no_response'), count(*) FROM read_parquet(?) "
            "WHERE outcome <> 'ok' GROUP BY ALL ORDER BY 2 DESC",
            [str(out_dir / "fetches.parquet")],
        ).fetchall()
    finally:
        con.close()
    return {"status": rel[0], "targets": rel[1], "targets_ok": rel[2], "targets_failed": rel[3],
            "errors_by_code": dict(codes)}


def build_tables(layout: Layout, raw_dir: Path, snapshot_id: str, write_id: str) -> tuple[Path, dict[str, int]]:
    """Normalize one sealed raw set into table files in a fresh temporary folder."""
    import json

    snapshot_at = snapshot_at_of(snapshot_id)
    out_dir = layout.tmp / f"tables-{snapshot_id}-{write_id}"
    out_dir.mkdir(parents=True, exist_ok=True)
    bodies = []
    calls_path = raw_dir / "calls.jsonl"
    with open(calls_path, encoding="utf-8") as fh:
        for line in fh:
            call = json.loads(line)
            if call["call"] in POOL_SOURCES and call["outcome"] == "ok" and call.get("body_file"):
                t = call["target"]
                bodies.append(BodyRef(
                    snapshot_id=snapshot_id, snapshot_at=snapshot_at, region=t["region"],
                    project_id=t["project_id"], source=call["call"], path=str(raw_dir / call["body_file"]),
                    response_id=call["call_id"],
                ))
    rows = normalize(bodies, out_dir)
    rows.update(_run_tables(raw_dir, layout, out_dir, snapshot_id, snapshot_at,
                            rows.get("pools", 0), rows.get("rejected_documents", 0)))
    return out_dir, rows


def publish(layout: Layout, raw_dir: Path, snapshot_id: str) -> tuple[Manifest, dict[str, int], dict]:
    """Normalize a sealed raw set, commit it as `snapshot_id` and rebuild the catalog. Caller holds the lock."""
    write_id = new_write_id()
    out_dir, rows = build_tables(layout, raw_dir, snapshot_id, write_id)
    status = _status_of(out_dir)
    manifest = commit(
        layout, snapshot_id=snapshot_id, write_id=write_id, snapshot_at=snapshot_at_of(snapshot_id),
        status=status["status"], raw_dir=raw_dir,
        table_files={p.stem: p for p in out_dir.glob("*.parquet")}, rows=rows,
    )
    out_dir.rmdir()
    build_catalog(layout, table_docs())
    return manifest, rows, status


def run_snapshot(
    config: Config,
    *,
    credentials: Credentials | None = None,
    snapshot_at: datetime | None = None,
    on_call: Callable[[CallRecord], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
    lock_wait_s: float = 0.0,
) -> SnapshotResult:
    """Take one snapshot. `snapshot_at` defaults to now (UTC, whole seconds); re-using an id replaces it."""
    credentials = credentials or load_credentials(config)
    moment = (snapshot_at or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    snapshot_id = snapshot_id_for(moment)
    layout = Layout(config.root)
    with writer_lock(layout, wait_s=lock_wait_s):
        collect_garbage(layout)
        landing = RawLanding(layout, snapshot_id, moment, secrets=credentials.secrets())
        try:
            targets = asyncio.run(_fetch(config, credentials, landing, on_call, on_plan))
        except BaseException:
            landing.abandon()
            raise
        raw_dir = landing.seal({"targets": targets})
        manifest, rows, status = publish(layout, raw_dir, snapshot_id)
    return SnapshotResult(
        snapshot_id=snapshot_id, status=status["status"], targets=status["targets"],
        targets_ok=status["targets_ok"], targets_failed=status["targets_failed"], pools=rows.get("pools", 0),
        rejected=rows.get("rejected_documents", 0), rows=rows, errors_by_code=status["errors_by_code"],
        manifest=manifest,
    )


async def _fetch(config, credentials, landing, on_call, on_plan) -> int:
    fetcher = Fetcher(config, credentials, landing, on_call=on_call)
    try:
        plan = await fetcher.discover()
        if on_plan:
            on_plan(sum(len(t.pools) if t.pools else 1 for t in plan.targets))
        await fetcher.fetch_all(plan.targets)
        return len(plan.targets)
    finally:
        await fetcher.aclose()


def renormalize(config: Config, snapshot_ids: list[str] | None = None, lock_wait_s: float = 0.0) -> list[str]:
    """Rebuild committed snapshots' tables from their raw sets (all when `snapshot_ids` is None)."""
    layout = Layout(config.root)
    done = []
    with writer_lock(layout, wait_s=lock_wait_s):
        manifests = {m.snapshot_id: m for m in read_manifests(layout)}
        wanted = sorted(manifests) if snapshot_ids is None else snapshot_ids
        for sid in wanted:
            if sid not in manifests:
                raise KeyError(f"no committed snapshot {sid} under {layout.root}")
            publish(layout, layout.root / manifests[sid].raw_dir, sid)
            done.append(sid)
    return done
