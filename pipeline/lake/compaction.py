"""Compaction: a day's files rewritten as few large ones per table, by Delta Lake's own optimize.

Why: every snapshot appends one file per table, so an hourly schedule leaves ~8,760 files per table a year, and
a reader plans a view over every file's footer (at 2,160 files per table that was 0.2 s per table reference,
most of a 90-day report's time). One file per table and day keeps it at 365 a year.

A day's compaction (DeltaLake.optimize) first sweeps the rows no current `snapshots` row names (crashed or
replaced writes older than the grace period), then rewrites the day's partition of every table in one commit
per table: readers see the old files or the new ones, never a mix, and a snapshot committed meanwhile (Delta's
conflict check) makes the compaction commit again on the table as it is then. The replaced files stay until
`vacuum` removes them once the grace period has passed (a reader may still hold a list naming them).
A day already one file per table is skipped, so compacting twice changes nothing.
"""

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pipeline.catalog.docs import table_docs
from pipeline.catalog.views import build_catalog
from pipeline.lake.delta import PARTITION
from pipeline.lake.layout import Layout, check_day, day_of
from pipeline.lake.store import GRACE_S, collect_garbage, read_manifests, writer_lock


class CompactionError(RuntimeError):
    """A day could not be compacted (the message says why); nothing of that day was replaced."""


@dataclass
class CompactionResult:
    days: list[str] = field(default_factory=list)  # days compacted by this run
    skipped: list[str] = field(default_factory=list)  # days already one file per table
    files_before: int = 0  # active files of the compacted days before
    files_after: int = 0
    rows: int = 0  # rows in the compacted days
    seconds: float = 0.0
    garbage: dict[str, int] = field(default_factory=dict)


def day_files(layout: Layout) -> dict[str, dict[str, tuple[int, int]]]:
    """day -> table -> (active files, rows) of that day's partition."""
    import pyarrow as pa

    lake = layout.tables()
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for table in lake.tables():
        actions = pa.table(lake.open(table).get_add_actions(flatten=True))
        days = actions[f"partition.{PARTITION}"].to_pylist()
        records = actions["num_records"].to_pylist()
        for day, n in zip(days, records):
            files, rows = out.setdefault(day, {}).get(table, (0, 0))
            out[day][table] = (files + 1, rows + (n or 0))
    return out


def plan_days(layout: Layout, days: Iterable[str] | None = None, *, include_latest: bool = False) -> list[str]:
    """The days to look at. Without `days`: every day before the latest snapshot's day (a day still receiving
    snapshots would be rewritten every hour), or every day with `include_latest`."""
    if days is not None:
        return sorted({check_day(d) for d in days})
    wanted = sorted({day_of(m.snapshot_id) for m in read_manifests(layout)})
    return wanted if include_latest else wanted[:-1]


def compact(layout: Layout, days: Iterable[str] | None = None, *, include_latest: bool = False,
            on_day: Callable[[str, int, int], None] | None = None, grace_s: float | None = None,
            threads: int | None = None) -> CompactionResult:
    """Compact the given days (default: see `plan_days`), then rebuild the catalog once and collect garbage.
    The caller holds the writer lock. `on_day(day, done, total)` reports progress."""
    started = time.perf_counter()
    grace = GRACE_S if grace_s is None else grace_s
    result = CompactionResult()
    lake = layout.tables(grace_s=grace)
    before = day_files(layout)
    wanted = plan_days(layout, days, include_latest=include_latest)
    todo = [d for d in wanted if any(files > 1 for files, _ in before.get(d, {}).values())]
    result.skipped = [d for d in wanted if d not in todo and d in before]
    for n, day in enumerate(todo, 1):
        try:
            lake.optimize(day)
        except Exception as exc:  # delta-rs reports its own errors; the day keeps its files
            raise CompactionError(f"compacting {day}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
        result.days.append(day)
        if on_day:
            on_day(day, n, len(todo))
    after = day_files(layout)
    for day in result.days:
        result.files_before += sum(files for files, _ in before.get(day, {}).values())
        result.files_after += sum(files for files, _ in after.get(day, {}).values())
        result.rows += sum(rows for _, rows in after.get(day, {}).values())
    # The catalog first, even with nothing compacted: one left stale by a crash after a commit may name files
    # that vacuum is about to remove; rebuilt, it names active files only.
    build_catalog(layout, table_docs())
    result.garbage = collect_garbage(layout, grace)
    result.seconds = time.perf_counter() - started
    return result


def compact_lake(layout: Layout, days: Iterable[str] | None = None, *, include_latest: bool = False,
                 lock_wait_s: float = 0.0, on_day: Callable[[str, int, int], None] | None = None,
                 grace_s: float | None = None) -> CompactionResult:
    """`compact` under the writer lock (waiting up to `lock_wait_s` for a running snapshot)."""
    with writer_lock(layout, wait_s=lock_wait_s):
        return compact(layout, days, include_latest=include_latest, on_day=on_day, grace_s=grace_s)
