"""Workload 6: the history step of one snapshot at 7, 90 and 365 days of hourly snapshots of 2,000 pools.

One lake of 365 days is generated straight into Delta tables (benchmarks/fleet_lake.py, as the daily compaction
leaves it: one file per table and day, the latest day's snapshots in files of their own), and each age is the
lake with the later snapshots' `snapshots` rows (their commit points) taken out. At each age: the full
recomputation over every snapshot but the last few (`rebuild_history`, the baseline: what every snapshot paid
before the history was incremental), then those few snapshots are committed again one at a time (their rows
put back) and `update_history` folds each in; the figure is the median fold. The fleet churns hard: every pool's capacity
changes once a day and ~5% of pools flip an abnormal node every hour (~200 changes per snapshot).
Targets: <= 1 s per snapshot at 365 days, and 365 days / 7 days <= 1.5.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import write_deltalake

from benchmarks.fleet_lake import make_compacted_fleet_lake
from benchmarks.harness import Figure
from pipeline.history.store import rebuild_history, update_history
from pipeline.lake.delta import PARTITION, SNAPSHOTS
from pipeline.lake.layout import Layout
from pipeline.lake.store import writer_lock

AGES = (7, 90, 365)
POOLS = 2000
FOLDS = 6  # snapshots folded one at a time at each age
MEMORY_LIMIT = "4GB"  # for the full recomputations: DuckDB spills past it (the machine is shared)


def _say(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def measure(ages: tuple[int, ...] = AGES, pools: int = POOLS, folds: int = FOLDS) -> dict:
    """{age: (fold seconds (median), full recomputation seconds)} on one generated lake."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="poolscope-bench-history-") as tmp:
        root = Path(tmp) / "lake"
        started = time.perf_counter()
        counts = make_compacted_fleet_lake(root, days=max(ages), pools=pools,
                                           own_files_days=tuple(age - 1 for age in ages))
        _say(f"generated {counts['snapshots']:,} snapshots, {counts['pools']:,} pool rows in "
             f"{time.perf_counter() - started:.0f}s")
        layout = Layout(root)
        lake = layout.tables()
        # Every snapshot's rows are in the tables; its snapshots row (the commit point) is taken out and put back
        # as the lake grows older: the same commit, with the same write id.
        rows = lake.open(SNAPSHOTS).to_pyarrow_table()
        lake.open(SNAPSHOTS).delete()
        ids = sorted(rows["snapshot_id"].to_pylist())

        def show(snapshot_ids: list[str]) -> None:
            if snapshot_ids:
                write_deltalake(lake.uri(SNAPSHOTS), rows.filter(pc.is_in(rows["snapshot_id"], pa.array(snapshot_ids))),
                                mode="append", partition_by=[PARTITION])

        shown = 0
        for age in ages:
            end = age * 24
            show(ids[shown:end - folds])
            with writer_lock(layout):
                started = time.perf_counter()
                rebuilt = rebuild_history(layout, memory_limit=MEMORY_LIMIT)
                full = time.perf_counter() - started
            times = []
            for sid in ids[end - folds:end]:
                show([sid])
                with writer_lock(layout):
                    started = time.perf_counter()
                    result = update_history(layout)
                    times.append(time.perf_counter() - started)
                assert result.folded == [sid] and not result.rebuilt, result
            shown = end
            out[age] = (statistics.median(times), full)
            _say(f"{age} d: full recomputation {full:.1f}s ({rebuilt.rows['pool_changes']:,} changes), "
                 f"folds {', '.join(f'{t:.2f}' for t in times)} s")
    return out


def run() -> list[Figure]:
    m = measure()
    figures = []
    for age in AGES:
        fold, full = m[age]
        last = age == max(AGES)
        figures.append(Figure(f"history per snapshot, incremental, {age} d x 24 x {POOLS:,} pools", fold, "s",
                              f"full recomputation at {age} d", full, "<= 1 s" if last else None,
                              fold <= 1.0 if last else None))
    first, last = min(AGES), max(AGES)
    ratio = m[last][0] / m[first][0]
    figures.append(Figure(f"history per snapshot: {last} d vs {first} d (flat in the lake's age)", m[last][0], "s",
                          f"incremental at {first} d", m[first][0], "<= 1.5x", ratio <= 1.5))
    return figures


if __name__ == "__main__":
    for f in run():
        print(f)
