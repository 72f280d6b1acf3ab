"""Compaction: a day's snapshot files rewritten as one Parquet file per table and UTC day.

Why: every snapshot writes one file per table, so an hourly schedule leaves ~8,760 files per table a year, and
DuckDB plans a view over an explicit file list by reading every file's footer (at 2,160 files per table that
was 0.2 s per table reference, most of a 90-day report's time). One file per table and day keeps it at 90.

Atomic and idempotent: a day's new files are written under `_tmp/`, their row counts are checked against the
sources, they are moved to their final names (which nothing references yet), and one rename of the day record
(`store.commit_day`) makes them live. A crash at any point leaves the previous files live and the new ones as
debris for garbage collection; running again redoes the day. The replaced snapshot files stay on disk for the
grace period (a reader's open catalog may still name them), then garbage collection removes them.
A day already read from one file per table is skipped, so compacting twice changes nothing.
"""

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipeline.catalog.views import build_catalog, select_lake_files
from pipeline.sqlfiles import quote_literal
from pipeline.catalog.docs import table_docs
from pipeline.lake.layout import Layout, check_day, day_of, new_write_id
from pipeline.lake.lease import discard, work_dir
from pipeline.lake.store import (
    GRACE_S, DayRecord, LiveFile, Manifest, collect_garbage, commit_day, live_files, read_day_records, read_manifests,
    writer_lock,
)


class CompactionError(RuntimeError):
    """A compacted file did not hold exactly its sources' rows; nothing was committed for that day."""


@dataclass(frozen=True)
class DayPlan:
    day: str
    snapshots: dict[str, str]  # every committed snapshot of the day: id -> current write id
    files: dict[str, list[LiveFile]]  # table -> the live files holding the day's rows

    @property
    def needed(self) -> bool:
        return any(len(fs) > 1 or fs[0].exclude for fs in self.files.values())

    @property
    def file_count(self) -> int:
        return sum(len(fs) for fs in self.files.values())


@dataclass
class CompactionResult:
    days: list[str] = field(default_factory=list)  # days compacted by this run
    skipped: list[str] = field(default_factory=list)  # days already one file per table
    files_before: int = 0  # live files of the compacted days before
    files_after: int = 0
    rows: int = 0  # rows rewritten
    seconds: float = 0.0
    garbage: dict[str, int] = field(default_factory=dict)


def plan_days(layout: Layout, days: Iterable[str] | None = None, *, include_latest: bool = False) -> list[DayPlan]:
    """What each day's tables are read from now. Without `days`: every day before the latest snapshot's day
    (a day still receiving snapshots would be rewritten every hour), or every day with `include_latest`."""
    by_day: dict[str, list[Manifest]] = {}
    for m in read_manifests(layout):
        by_day.setdefault(day_of(m.snapshot_id), []).append(m)
    records = {r.day: r for r in read_day_records(layout)}
    if days is None:
        wanted = sorted(by_day)
        if wanted and not include_latest:
            wanted = wanted[:-1]
    else:
        wanted = sorted({check_day(d) for d in days})
    plans = []
    for day in wanted:
        manifests = by_day.get(day, [])
        if not manifests:
            continue
        files = live_files(layout, manifests, [records[day]] if day in records else [])
        plans.append(DayPlan(day, {m.snapshot_id: m.write_id for m in manifests}, files))
    return plans


def _rows_in(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    return con.execute(f"SELECT count(*) FROM read_parquet({quote_literal(str(path))})").fetchall()[0][0]


def compact_day(layout: Layout, plan: DayPlan, work: Path, write_id: str, *, threads: int | None = None) -> DayRecord:
    """Rewrite one day and commit it. The caller holds the writer lock."""
    con = duckdb.connect(":memory:")
    out: dict[str, Path] = {}
    rows: dict[str, int] = {}
    try:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        for table, files in sorted(plan.files.items()):
            # The partition value lives in the folder name, as for snapshot files: not inside the file.
            select = select_lake_files(files, hive=False)
            expected = con.execute(f"SELECT count(*) FROM ({select})").fetchall()[0][0]
            dest = work / f"{table}.parquet"
            # Sorted by snapshot, so that row groups prune well on snapshot_id / snapshot_at.
            con.execute(f"COPY ({select} ORDER BY snapshot_id) TO {quote_literal(str(dest))} "
                        f"(FORMAT parquet, COMPRESSION zstd)")
            written = _rows_in(con, dest)
            if written != expected:
                raise CompactionError(f"compacting {table} of {plan.day}: wrote {written} rows, sources hold "
                                      f"{expected}; nothing committed for this day")
            out[table], rows[table] = dest, int(written)
    finally:
        con.close()
    return commit_day(layout, day=plan.day, write_id=write_id, snapshots=plan.snapshots, table_files=out, rows=rows,
                      replaces=[f.path for files in plan.files.values() for f in files])


def compact(layout: Layout, days: Iterable[str] | None = None, *, include_latest: bool = False,
            on_day: Callable[[str, int, int], None] | None = None, grace_s: float | None = None,
            threads: int | None = None) -> CompactionResult:
    """Compact the given days (default: see `plan_days`), then rebuild the catalog once and collect garbage.
    The caller holds the writer lock. `on_day(day, done, total)` reports progress."""
    started = time.perf_counter()
    result = CompactionResult()
    plans = plan_days(layout, days, include_latest=include_latest)
    todo = [p for p in plans if p.needed]
    result.skipped = [p.day for p in plans if not p.needed]
    for n, plan in enumerate(todo, 1):
        # A leased folder: garbage collection (here or on another host) leaves it alone while we work.
        write_id = new_write_id()
        work = work_dir(layout.tmp, f"compact-{plan.day}-{write_id}")
        try:
            record = compact_day(layout, plan, work, write_id, threads=threads)
        finally:
            discard(work)
        result.days.append(plan.day)
        result.files_before += plan.file_count
        result.files_after += len(record.tables)
        result.rows += sum(t["rows"] for t in record.tables.values())
        if on_day:
            on_day(plan.day, n, len(todo))
    # The catalog first, even with nothing compacted: one left stale by a crash after a commit may name files
    # that garbage collection is about to remove; rebuilt, it names live files only.
    build_catalog(layout, table_docs())
    result.garbage = collect_garbage(layout, GRACE_S if grace_s is None else grace_s)
    result.seconds = time.perf_counter() - started
    return result


def compact_lake(layout: Layout, days: Iterable[str] | None = None, *, include_latest: bool = False,
                 lock_wait_s: float = 0.0, on_day: Callable[[str, int, int], None] | None = None,
                 grace_s: float | None = None) -> CompactionResult:
    """`compact` under the writer lock (waiting up to `lock_wait_s` for a running snapshot)."""
    with writer_lock(layout, wait_s=lock_wait_s):
        return compact(layout, days, include_latest=include_latest, on_day=on_day, grace_s=grace_s)

