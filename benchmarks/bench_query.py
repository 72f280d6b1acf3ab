"""Workload 4: queries over 90 days of hourly snapshots of 2,000 pools, before and after compaction.

The lake is generated straight into Delta tables (benchmarks/fleet_lake.py: one file per snapshot and table, real
Delta tables and catalog), i.e. what 90 days of hourly snapshots leave. The baseline is the same query on that
lake; then `compact` (the code the daily Dagster job runs) rewrites it as one file per table and day, and the
same queries run again. Targets: the 90-day capacity report <= 5 s, opening the catalog <= 0.5 s.
"""

import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from benchmarks.fleet_lake import make_fleet_lake
from benchmarks.harness import Figure, best_of
from pipeline.catalog.views import build_catalog
from pipeline.lake.compaction import compact
from pipeline.catalog.docs import table_docs
from pipeline.history.full import build_history
from pipeline.lake.layout import Layout
from pipeline.reports.tables import report_arrow
from pipeline.lake.store import collect_garbage, writer_lock

DAYS, POOLS = 90, 2000




def _open(catalog: Path) -> None:
    """What an analyst's first query costs: connect, then bind the biggest view (every file's footer)."""
    con = duckdb.connect(str(catalog), read_only=True)
    con.execute("SET enable_progress_bar = false")
    try:
        con.execute("SELECT * FROM pools LIMIT 1").fetchall()
    finally:
        con.close()


def _report(catalog: Path) -> int:
    con = duckdb.connect(str(catalog), read_only=True)
    con.execute("SET enable_progress_bar = false")
    try:
        first, last = con.execute("SELECT min(snapshot_day), max(snapshot_day) FROM snapshots").fetchall()[0]
        return report_arrow(con, "capacity_utilization", first, last).num_rows
    finally:
        con.close()


def _history(catalog: Path, work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    con = duckdb.connect(str(catalog), read_only=True)
    con.execute("SET enable_progress_bar = false")
    try:
        build_history(con, work)
    finally:
        con.close()


def _files(layout: Layout) -> int:
    return sum(1 for _ in layout.lake.glob("*/snapshot_day=*/*.parquet"))


def run() -> list[Figure]:
    figures = []
    with tempfile.TemporaryDirectory(prefix="poolscope-bench-query-") as tmp:
        root = Path(tmp) / "lake"
        t0 = time.perf_counter()
        counts = make_fleet_lake(root, days=DAYS, pools=POOLS)
        print(f"  generated {counts['snapshots']} snapshots, {counts['pools']:,} pool rows in "
              f"{time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
        layout = Layout(root)
        catalog = layout.catalog
        files_before = _files(layout)

        rebuild_before = best_of(lambda: build_catalog(layout, table_docs()), repeat=1)
        open_before = best_of(lambda: _open(catalog), repeat=3)
        report_before = best_of(lambda: _report(catalog), repeat=2)
        history_before = best_of(lambda: _history(catalog, Path(tmp) / "history"), repeat=1)

        started = time.perf_counter()
        with writer_lock(layout):
            result = compact(layout, include_latest=True)
            collect_garbage(layout, grace_s=0)  # as the next run would, once the grace period has passed
        compact_s = time.perf_counter() - started
        files_after = _files(layout)

        rebuild_after = best_of(lambda: build_catalog(layout, table_docs()), repeat=3)
        open_after = best_of(lambda: _open(catalog), repeat=5)
        report_after = best_of(lambda: _report(catalog), repeat=3)
        history_after = best_of(lambda: _history(catalog, Path(tmp) / "history"), repeat=1)

    scale = f"{DAYS} d x 24 x {POOLS:,} pools"
    figures.append(Figure(f"query: open catalog + first query, {scale}, compacted", open_after, "s",
                          f"{files_before:,} snapshot files", open_before, "<= 0.5 s", open_after <= 0.5))
    figures.append(Figure(f"query: capacity_utilization over {DAYS} d, compacted", report_after, "s",
                          "snapshot files", report_before, "<= 5 s", report_after <= 5.0))
    figures.append(Figure(f"query: history (pool_changes + pool_versions) {DAYS} d, compacted", history_after, "s",
                          "snapshot files", history_before))
    figures.append(Figure("catalog rebuild (each snapshot's last step), compacted", rebuild_after, "s",
                          "snapshot files", rebuild_before))
    figures.append(Figure(f"compaction: {len(result.days)} days, {files_before:,} -> {files_after:,} files, "
                          f"{result.rows:,} rows", compact_s, "s"))
    return figures
