"""The work inside the snapshot steps: fetch and land, normalize a sealed raw set into table files (with the
run-level tables fetches, snapshots and flavors), check, commit, rebuild the catalog.

The sequence of the steps lives in pipeline/flow.py, and only there. Every step after landing reads only the
sealed raw set, which is why `renormalize` rebuilds any snapshot from its landing with the very same code.
"""

import asyncio
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.config import Config
from pipeline.fetch import Fetcher, known_pools
from pipeline.lake.catalog import build_catalog
from pipeline.lake.checks import CheckOutcome, run_checks
from pipeline.lake.docs import table_docs
from pipeline.sqlfiles import quote_literal, sql_text
from pipeline.lake.landing import CallRecord, RawLanding
from pipeline.lake.layout import Layout, new_write_id, snapshot_at_of, snapshot_id_for
from pipeline.lake.lease import discard, work_dir
from pipeline.lake.normalize import BodyRef, normalize, rejected_count
from pipeline.lake.space import check_free_space
from pipeline.lake.store import Manifest, clean_debris, commit
from pipeline.modelarts import Credentials
from pipeline.modelarts.credentials import AkSkCredentials, TokenCredentials

log = logging.getLogger(__name__)

POOL_SOURCES = ("list_pools", "show_pool")
OnCall = Callable[[CallRecord], None]


@dataclass
class Staged:
    """Normalized tables of one raw set, written but not yet committed."""

    snapshot_id: str
    write_id: str
    raw_dir: Path
    out_dir: Path
    rows: dict[str, int]
    status: str
    targets: int
    targets_ok: int
    targets_failed: int
    errors_by_code: dict[str, int] = field(default_factory=dict)
    rejected: int = 0  # documents that could not be used (rejected_documents errors; warnings are not counted)

    @property
    def files(self) -> dict[str, Path]:
        return {p.stem: p for p in self.out_dir.glob("*.parquet")}


def load_credentials(config: Config, environ: Mapping[str, str] | None = None) -> Credentials:
    env = os.environ if environ is None else environ
    if config.credentials.method == "token":
        return TokenCredentials.from_env(env)
    return AkSkCredentials.from_env(env)


def read_run(raw_dir: Path) -> dict:
    try:
        return json.loads((raw_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


# ---------------------------------------------------------------------------------------------- land


async def _fetch(config: Config, credentials: Credentials, landing: RawLanding, on_call: OnCall | None,
                 on_plan: Callable[[int], None] | None) -> list[dict]:
    # What the lake already knows, read before fetching: a pool missing from a listing is confirmed in this run.
    fetcher = Fetcher(config, credentials, landing, on_call=on_call, known=known_pools(Layout(config.root).catalog))
    try:
        plan = await fetcher.discover()
        if on_plan:
            on_plan(sum(len(t.pools) if t.pools else 1 for t in plan.targets))
        await fetcher.fetch_all(plan.targets)
        return [
            {"region": t.region, "project_id": t.project_id, "endpoint": t.base_url,
             "workspace_id": t.workspace_id}
            for t in plan.targets
        ]
    finally:
        await fetcher.aclose()


def land(config: Config, credentials: Credentials, snapshot_at: datetime | None = None,
         on_call: OnCall | None = None, on_plan: Callable[[int], None] | None = None) -> tuple[str, Path]:
    """Fetch every target and seal the raw set. Returns (snapshot_id, raw_dir)."""
    moment = (snapshot_at or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    snapshot_id = snapshot_id_for(moment)
    layout = Layout(config.root)
    landing = RawLanding(layout, snapshot_id, moment, secrets=credentials.secrets())
    try:
        targets = asyncio.run(_fetch(config, credentials, landing, on_call, on_plan))
    except BaseException:
        landing.abandon()
        raise
    return snapshot_id, landing.seal({"targets": targets})


# ---------------------------------------------------------------------------------------------- stage


def raw_bodies(raw_dir: Path, snapshot_id: str) -> list[BodyRef]:
    """The pool bodies of a sealed raw set (the final attempt of each ok listing or show), for normalize."""
    snapshot_at = snapshot_at_of(snapshot_id)
    bodies = []
    with open(raw_dir / "calls.jsonl", encoding="utf-8") as fh:
        for line in fh:
            call = json.loads(line)
            if call["call"] in POOL_SOURCES and call["outcome"] == "ok" and call.get("body_file"):
                t = call["target"]
                bodies.append(BodyRef(
                    snapshot_id=snapshot_id, snapshot_at=snapshot_at, region=t["region"],
                    project_id=t["project_id"], source=call["call"], path=str(raw_dir / call["body_file"]),
                    response_id=call["call_id"], repeated_keys=call.get("repeated_keys", False),
                ))
    return bodies


def _run_tables(layout: Layout, raw_dir: Path, out_dir: Path, snapshot_id: str, pools: int,
                rejected: int) -> tuple[dict[str, int], dict]:
    """`fetches` and `snapshots` from the raw set's call log; returns row counts and the snapshot summary."""
    run = read_run(raw_dir)
    snapshot_at = snapshot_at_of(snapshot_id)
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE TEMP TABLE fetches_rows AS " + sql_text("normalize", "fetches"), {
            "snapshot_id": snapshot_id, "snapshot_at": snapshot_at, "calls": str(raw_dir / "calls.jsonl"),
            "raw_dir": str(raw_dir.relative_to(layout.root)),
        })
        con.execute(f"COPY fetches_rows TO {quote_literal(out_dir / 'fetches.parquet')} (FORMAT parquet, COMPRESSION zstd)")
        con.execute("CREATE TEMP TABLE snapshot_row AS " + sql_text("normalize", "snapshots"), {
            "snapshot_id": snapshot_id, "snapshot_at": snapshot_at, "pools": pools, "rejected": rejected,
            "started_at": run.get("started_at"), "finished_at": run.get("sealed_at"),
        })
        con.execute(f"COPY snapshot_row TO {quote_literal(out_dir / 'snapshots.parquet')} (FORMAT parquet, COMPRESSION zstd)")
        fetches = con.execute("SELECT count(*) FROM fetches_rows").fetchone()[0]
        flavors = _flavors(con, layout, out_dir, snapshot_id, snapshot_at)
        status, targets, ok, failed = con.execute(
            "SELECT status, targets, targets_ok, targets_failed FROM snapshot_row").fetchone()
        codes = con.execute(
            "SELECT coalesce(error_code, reason, 'http_' || http_status, 'no_response') AS code, count(*) "
            "FROM fetches_rows WHERE outcome <> 'ok' "
            # a ShowPool's 404 ModelArts.50015001 is an answer (the pool is gone), not an error
            "AND NOT (call = 'show_pool' AND http_status = 404 AND error_code IS NOT DISTINCT FROM 'ModelArts.50015001') "
            "GROUP BY ALL ORDER BY 2 DESC, 1").fetchall()
    finally:
        con.close()
    summary = {"status": status, "targets": targets, "targets_ok": ok, "targets_failed": failed,
               "errors_by_code": dict(codes)}
    return {"fetches": int(fetches), "snapshots": 1, "flavors": flavors}, summary


def _flavors(con: duckdb.DuckDBPyConnection, layout: Layout, out_dir: Path, snapshot_id: str,
             snapshot_at: datetime) -> int:
    """The flavor catalog from the landed resourceflavors pages (see sql/normalize/flavors.sql)."""
    pages = con.execute(
        "SELECT region, project_id, row_number() OVER (ORDER BY call_id) AS page, raw_file FROM fetches_rows "
        "WHERE call = 'list_resource_flavors' AND outcome = 'ok' AND raw_file IS NOT NULL"
    ).fetchall()
    con.execute("CREATE TEMP TABLE flavor_pages (region VARCHAR, project_id VARCHAR, page BIGINT, content VARCHAR)")
    if pages:
        index = pa.Table.from_pylist([{"path": str(layout.root / raw), "region": region, "project_id": pid,
                                       "page": page} for region, pid, page, raw in pages])
        con.register("flavor_page_index", index)
        con.execute(
            "INSERT INTO flavor_pages SELECT i.region, i.project_id, i.page, t.content "
            "FROM read_text($files) AS t JOIN flavor_page_index AS i ON i.path = t.filename",
            {"files": index.column("path").to_pylist()},
        )
    con.execute("CREATE TEMP TABLE flavors_rows AS " + sql_text("normalize", "flavors"),
                {"snapshot_id": snapshot_id, "snapshot_at": snapshot_at})
    con.execute(f"COPY flavors_rows TO {quote_literal(out_dir / 'flavors.parquet')} (FORMAT parquet, COMPRESSION zstd)")
    return int(con.execute("SELECT count(*) FROM flavors_rows").fetchone()[0])


def stage(layout: Layout, raw_dir: Path, snapshot_id: str) -> Staged:
    """Normalize one sealed raw set into table files in a fresh temporary folder (not visible yet)."""
    write_id = new_write_id()
    layout.ensure()
    out_dir = work_dir(layout.tmp, f"tables-{snapshot_id}-{write_id}")
    try:
        rows = normalize(raw_bodies(raw_dir, snapshot_id), out_dir)
        rejected = rejected_count(out_dir)
        run_rows, summary = _run_tables(layout, raw_dir, out_dir, snapshot_id, rows.get("pools", 0), rejected)
    except BaseException:
        discard(out_dir)
        raise
    rows.update(run_rows)
    return Staged(snapshot_id=snapshot_id, write_id=write_id, raw_dir=raw_dir, out_dir=out_dir, rows=rows,
                  rejected=rejected, **summary)


def check(staged: Staged) -> list[CheckOutcome]:
    return run_checks(staged.files, read_run(staged.raw_dir).get("targets", []))


# ---------------------------------------------------------------------------------------------- publish


def commit_staged(layout: Layout, staged: Staged, checks: list[CheckOutcome]) -> Manifest:
    """Commit staged tables: the manifest rename makes them visible. The caller holds the writer lock.

    The check outcomes are recorded in the manifest, so that later steps (reports) can be gated on them.
    """
    manifest = commit(
        layout, snapshot_id=staged.snapshot_id, write_id=staged.write_id,
        snapshot_at=snapshot_at_of(staged.snapshot_id), status=staged.status, raw_dir=staged.raw_dir,
        table_files=staged.files, rows=staged.rows, checks={c.name: c.passed for c in checks},
    )
    discard(staged.out_dir)
    return manifest


def publish(layout: Layout, staged: Staged, checks: list[CheckOutcome]) -> Manifest:
    """Commit and rebuild the catalog. The caller holds the writer lock."""
    manifest = commit_staged(layout, staged, checks)
    refresh_catalog(layout)
    return manifest


def refresh_catalog(layout: Layout) -> Path:
    return build_catalog(layout, table_docs())


class CatalogNotRefreshed(RuntimeError):
    """A snapshot was committed, but the catalog rebuild after the commit failed (a full disk, say): the data
    is safe in the lake, and the catalog shows it from the next successful rebuild (any later run)."""

    def __init__(self, snapshot_id: str, status: str, reason: str):
        super().__init__(f"snapshot {snapshot_id} committed ({status}); catalog not refreshed: {reason}; "
                         "the next run refreshes it")
        self.snapshot_id, self.status, self.reason = snapshot_id, status, reason


def prepare_write(layout: Layout, config: Config) -> None:
    """The start of a write, under the writer lock: remove crashed runs' debris, then check the free space
    (debris first: a crashed run's leftovers would count against it). Raises StorageFullError."""
    clean_debris(layout)
    check_free_space(layout.root, config.storage.min_free_mb)
