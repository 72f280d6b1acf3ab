"""Committing to the lake: a snapshot's tables committed to Delta tables with its `snapshots` row last (the commit
point, pipeline/lake/delta.py), the committed snapshots as the later steps read them, one writer per storage
root for the steps that still write local files (history, reports, catalog), and crash debris cleanup.

A re-run of a snapshot id commits a new write whose `snapshots` row replaces the old one in one commit: readers
see either write whole. The replaced write's rows stay in the tables, unseen, until `collect_garbage` (the daily
compaction) sweeps them after the grace period, because a reader may still hold a file list that names them.
"""

import errno
import fcntl
import json
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pipeline.lake.durable import fsync_dir
from pipeline.lake.delta import SNAPSHOTS, WRITE_SEPARATOR
from pipeline.lake.layout import Layout, check_snapshot_id, snapshot_at_of
from pipeline.lake.lease import (
    RECORD_BYTES, Lease, entry_alive, hold_lock_lease, host_id, lease_alive, release_lock_lease,
)

GRACE_S = 600.0


class LakeBusyError(RuntimeError):
    """Another process holds the lake's writer lock."""


@contextmanager
def writer_lock(layout: Layout, wait_s: float = 0.0, *, for_steps: bool = False) -> Iterator[None]:
    """One writer per storage root. Waits up to `wait_s`, then raises LakeBusyError with a clear message.

    flock is released by the kernel when the holder dies, so a kill -9 never leaves the lake locked. The
    holder also keeps its lease (pipeline/lake/lease.py) in the lock file: flock does not reach across hosts on
    every shared file system, so a fresh lease of a writer on another host counts as held too. A stale one
    (a crashed host's, or a dead local pid's) is taken over.

    `for_steps`: the steps this thread runs while holding it (a Dagster run in process) take it again at once.
    """
    layout.ensure()
    key = os.path.realpath(layout.lock)
    held = _held_locks()
    if key in held:
        # Taken `for_steps` by this thread: `poolscope snapshot` holds the lock around its whole in-process Dagster
        # run (pipeline/runner.py), whose steps take it again, as they must when Dagster runs them on its own.
        yield
        return
    fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    token = None
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                holder = _remote_holder(fd)
                if holder is None:
                    break
                fcntl.flock(fd, fcntl.LOCK_UN)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                holder = Lease.decode(os.pread(fd, RECORD_BYTES, 0))
            if time.monotonic() >= deadline:
                who = holder.describe() if holder is not None else "pid unknown"
                raise LakeBusyError(
                    f"another poolscope process ({who}) is writing to {layout.root}; "
                    f"waited {wait_s:.0f}s. Try again when it has finished."
                ) from None
            time.sleep(0.2)
        token = hold_lock_lease(fd)
        if for_steps:
            held.add(key)
        try:
            yield
        finally:
            held.discard(key)
    finally:
        if token is not None:
            release_lock_lease(fd, token)
        os.close(fd)  # closing the descriptor drops the lock


_THREAD = threading.local()


def _held_locks() -> set[str]:
    """The writer locks this thread holds (real paths of their lock files)."""
    if not hasattr(_THREAD, "held"):
        _THREAD.held = set()
    return _THREAD.held


def _remote_holder(fd: int) -> Lease | None:
    """The lease in the lock file when it is a live writer's on another host (a local writer holds the flock)."""
    lease = Lease.decode(os.pread(fd, RECORD_BYTES, 0))
    if lease is None or lease.host_id == host_id() or not lease_alive(lease):
        return None
    return lease


@dataclass(frozen=True)
class Manifest:
    """A committed snapshot as the steps after the commit see it: its row in the `snapshots` Delta table."""

    snapshot_id: str
    write_id: str
    snapshot_at: str  # ISO 8601, UTC
    status: str
    raw_dir: str  # relative to the storage root
    tables: dict[str, dict]  # table -> {"rows": int}
    committed_at: str
    checks: dict[str, bool] = field(default_factory=dict)  # data check -> passed, when the snapshot was staged
    # A snapshot written a region at a time: its parts, region -> (write id, raw_dir), and `write_id` is their
    # write mark (ids joined by '+', pipeline/lake/delta.py writes_of). Empty for a whole write.
    parts: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def raw_dirs(self) -> list[str]:
        """Every raw set the snapshot's rows came from."""
        return [raw for _, raw in self.parts.values()] if self.parts else [self.raw_dir]


def _commit_record(raw_dir: str, rows: Mapping[str, int], checks: Mapping[str, bool], committed_at: str) -> str:
    """The snapshots row's `commit_record` column: what the commit adds to the row normalize wrote."""
    return json.dumps({"raw_dir": raw_dir, "tables": {t: {"rows": int(n)} for t, n in sorted(rows.items())},
                       "checks": dict(checks), "committed_at": committed_at}, sort_keys=True)


def commit(
    layout: Layout,
    *,
    snapshot_id: str,
    write_id: str,
    snapshot_at: datetime,
    status: str,
    raw_dir: Path,
    table_files: dict[str, Path],
    rows: dict[str, int],
    checks: dict[str, bool] | None = None,
) -> Manifest:
    """Commit a snapshot's staged table files to the lake's Delta tables (pipeline/lake/delta.py): every table's
    rows, then its `snapshots` row, the commit point."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    check_snapshot_id(snapshot_id)
    if SNAPSHOTS not in table_files:
        raise ValueError(f"snapshot {snapshot_id}: no snapshots table staged")
    committed_at = datetime.now(timezone.utc).isoformat()
    if layout.in_bucket:  # uploaded there by the land step (pipeline/lake/bucket_sync.py)
        from pipeline.lake.bucket_sync import raw_key_of

        rel_raw = raw_key_of(layout, raw_dir)
    else:
        rel_raw = str(raw_dir.relative_to(layout.root))
    tables = {t: pq.read_table(f) for t, f in table_files.items() if t != SNAPSHOTS}
    row = pq.read_table(table_files[SNAPSHOTS])
    if "commit_record" in row.column_names:
        row = row.drop_columns(["commit_record"])
    counts = {t: int(rows.get(t, tables[t].num_rows if t in tables else 1)) for t in table_files}
    row = row.append_column("commit_record", pa.array(
        [_commit_record(rel_raw, counts, checks or {}, committed_at)] * row.num_rows, pa.string()))
    layout.tables().commit_snapshot(snapshot_id, write_id, tables, row)
    for f in table_files.values():  # consumed, as a move into the lake consumed them before
        f.unlink(missing_ok=True)
    return Manifest(snapshot_id=snapshot_id, write_id=write_id,
                    snapshot_at=snapshot_at.astimezone(timezone.utc).isoformat(), status=status, raw_dir=rel_raw,
                    tables={t: {"rows": n} for t, n in sorted(counts.items())}, committed_at=committed_at,
                    checks=dict(checks or {}))


def _write_json(final: Path, tmp: Path, data: dict) -> None:
    """Durably replace `final` with `data`: write + fsync a temporary sibling, rename, fsync the folder."""
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)


def read_manifests(layout: Layout) -> list[Manifest]:
    """Committed snapshots, oldest first: the rows of the `snapshots` table."""
    dt = layout.tables().open(SNAPSHOTS)
    if dt is None:
        return []
    present = {f.name for f in dt.schema().fields}
    columns = [c for c in ("snapshot_id", "write_id", "snapshot_at", "status", "region", "commit_record")
               if c in present]
    rows = dt.to_pyarrow_table(columns=columns).to_pylist()
    by_id: dict[str, list[Manifest]] = {}
    for r in rows:
        try:
            record = json.loads(r.get("commit_record") or "{}")
        except ValueError:
            record = {}
        at = r.get("snapshot_at") or snapshot_at_of(r["snapshot_id"])
        raw = record.get("raw_dir", "")
        by_id.setdefault(r["snapshot_id"], []).append(Manifest(
            snapshot_id=r["snapshot_id"], write_id=r["write_id"],
            snapshot_at=at.astimezone(timezone.utc).isoformat() if isinstance(at, datetime) else str(at),
            status=r.get("status") or "", raw_dir=raw, tables=record.get("tables", {}),
            committed_at=record.get("committed_at", ""), checks=record.get("checks", {}),
            parts={r["region"]: (r["write_id"], raw)} if r.get("region") else {}))
    return [_merged(parts) for _, parts in sorted(by_id.items())]


def _merged(parts: list[Manifest]) -> Manifest:
    """A snapshot's manifest from its rows: one (a whole write), or one per region written on its own."""
    if len(parts) == 1:
        return parts[0]
    parts = sorted(parts, key=lambda m: m.write_id)
    statuses = {m.status for m in parts}
    tables: dict[str, dict] = {}
    for m in parts:
        for t, info in m.tables.items():
            tables.setdefault(t, {"rows": 0})["rows"] += int(info.get("rows", 0))
    checks: dict[str, bool] = {}
    for m in parts:
        for name, passed in m.checks.items():
            checks[name] = checks.get(name, True) and bool(passed)
    first = parts[0]
    return Manifest(
        snapshot_id=first.snapshot_id, write_id=WRITE_SEPARATOR.join(m.write_id for m in parts),
        snapshot_at=first.snapshot_at,
        status=statuses.pop() if len(statuses) == 1 else "partial", raw_dir=first.raw_dir, tables=tables,
        committed_at=max(m.committed_at for m in parts), checks=checks,
        parts={region: part for m in parts for region, part in m.parts.items()})


def _mark_replaced(files: Iterable[Path]) -> None:
    """Stamp files about to be replaced with the current time: garbage collection's grace period counts from
    a file's mtime, and must count from when the file stopped being live, not from when it was written.
    Done before the commit point: if the commit never happens, the files simply stay live."""
    now = time.time()
    for f in files:
        try:
            os.utime(f, (now, now))
        except FileNotFoundError:
            pass


def clean_debris(layout: Layout) -> int:
    """Remove what crashed or failed runs left behind, and return how many entries: `_tmp/` entries that no
    live writer owns (judged by their lease, see pipeline/lake/lease.py), half-written records and half-written
    catalogs. Call only while holding the writer lock (catalogs are only built under it)."""
    removed = 0
    if layout.tmp.is_dir():
        for entry in layout.tmp.iterdir():
            if entry_alive(entry):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
    for entry in layout.root.glob(".inventory.*.duckdb.tmp*") if layout.root.is_dir() else []:
        entry.unlink(missing_ok=True)
        removed += 1
    return removed


UPKEEP_EVERY_S = 86_400.0


def upkeep_due(layout: Layout, every_s: float = UPKEEP_EVERY_S) -> bool:
    """Is the tables' upkeep (sweep, vacuum) due? Once a day: it reads every table's log and lists its files
    (~1 s on a small lake, far more than a snapshot's other cleanup), and what it removes is unseen anyway."""
    try:
        return time.time() - layout.upkeep_marker.stat().st_mtime >= every_s
    except FileNotFoundError:
        return True


def collect_garbage(layout: Layout, grace_s: float = GRACE_S, *, tables: bool = True,
                    vacuum: bool = True) -> dict[str, int]:
    """Remove crash debris (`clean_debris`), and with `tables` in the Delta tables the rows of crashed or
    replaced writes (DeltaLake.sweep), and with `vacuum` too the files no table version needs, once older than
    `grace_s`. Call only while holding the writer lock. Raw sets are never deleted: they are the source of truth."""
    removed = {"tmp": clean_debris(layout), "rows": 0, "table_files": 0}
    if tables:
        lake = layout.tables()
        marks = lake.pending(grace_s)
        removed["rows"] = sum(lake.sweep(grace_s=grace_s).values())
        lake.clear_pending(marks)  # what they announced is swept (rows of writes older than the grace)
        if removed["rows"] and layout.catalog.exists():
            # The sweep rewrote files the catalog names: it must name the new ones before vacuum can remove
            # the old (with the grace, an analyst's open catalog keeps working that long).
            from pipeline.catalog.docs import table_docs
            from pipeline.catalog.views import build_catalog

            build_catalog(layout, table_docs())
        if not vacuum:
            return removed
        removed["table_files"] = sum(lake.vacuum(grace_s=grace_s).values())
        if layout.in_bucket:
            from pipeline.lake.bucket_sync import collect_bucket_history

            removed["history_objects"] = collect_bucket_history(layout, grace_s)
        layout.upkeep_marker.parent.mkdir(parents=True, exist_ok=True)
        layout.upkeep_marker.touch()
    return removed
