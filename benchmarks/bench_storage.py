"""Issue 14: the lake on Delta tables, on a local disk and on S3 (SeaweedFS on loopback), against today's
compacted local lake: a year of hourly snapshots of 2,000 pools, opened and queried.

The lake: `fleet_lake.make_compacted_fleet_lake` (what the daily compaction leaves: one file per table and day),
its catalog built as a snapshot's last step builds it. Then `poolscope migrate`'s code copies it into Delta
tables twice, to a folder and to a bucket (a day per commit, so the Delta tables also hold one file per table and
day). Timed on each, the way an analyst meets it:
- open: a connection with every documented view (the catalog file; `delta_connection` for Delta), then the
  first query of the biggest table;
- the capacity_utilization report over the whole range (pipeline.reports.tables.report_arrow).
On S3 twice: read through pyarrow's datasets, and through the mirror (pipeline/lake/mirror.py: the data files
copied once to a local folder; its first open, which fetches them all, is a figure of its own).
Baseline, in the same run: the compacted local lake's figures. Target: Delta on S3 within 2x of them.

    .venv/bin/python -m benchmarks.bench_storage              # 365 days (~15 minutes)
    .venv/bin/python -m benchmarks.bench_storage --days 30
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from benchmarks.fleet_lake import make_compacted_fleet_lake
from benchmarks.harness import Figure, best_of, report
from pipeline.catalog.docs import table_docs
from pipeline.catalog.views import build_catalog, delta_connection
from pipeline.lake.delta import DeltaLake
from pipeline.lake.layout import Layout
from pipeline.lake.migrate import migrate
from pipeline.lake.storage import storage_for
from pipeline.reports.tables import report_arrow

ROOT = Path(__file__).resolve().parents[1]
DAYS, POOLS = 365, 2000
TARGET_RATIO = 2.0


def log(message: str) -> None:
    print(f"  bench_storage: {message}", file=sys.stderr, flush=True)


def _first_query(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET enable_progress_bar = false")
    con.execute("SELECT * FROM pools LIMIT 1").fetchall()


def _capacity(con: duckdb.DuckDBPyConnection) -> int:
    con.execute("SET enable_progress_bar = false")
    first, last = con.execute("SELECT min(snapshot_day), max(snapshot_day) FROM snapshots").fetchall()[0]
    return report_arrow(con, "capacity_utilization", first, last).num_rows


def _catalog(path: Path):
    return lambda: duckdb.connect(str(path), read_only=True)


def _delta(lake: DeltaLake, mirror: Path | None = None):
    return lambda: delta_connection(lake, mirror=mirror)


def _time(connect, what) -> float:
    def once():
        con = connect()
        try:
            what(con)
        finally:
            con.close()
    return best_of(once, repeat=3)


def run(days: int = DAYS, pools: int = POOLS) -> list[Figure]:
    sys.path.insert(0, str(ROOT / "tests"))
    from s3kit import seaweed  # the test kit's real S3 server

    with tempfile.TemporaryDirectory(prefix="poolscope-bench-storage-") as tmp:
        work = Path(tmp)
        old = work / "old"
        started = time.perf_counter()
        counts = make_compacted_fleet_lake(old, days=days, pools=pools)
        build_catalog(Layout(old), table_docs())
        log(f"generated {counts['snapshots']:,} snapshots, {counts['pools']:,} pool rows in "
            f"{time.perf_counter() - started:.0f} s")
        local = DeltaLake(storage_for(str(work / "delta"), environ={}))
        started = time.perf_counter()
        result = migrate(Layout(old), local, raw=False)
        migrate_local = time.perf_counter() - started
        assert not result.mismatches, result.mismatches[:5]
        log(f"migrated to Delta on disk in {migrate_local:.0f} s")
        with seaweed(work / "s3") as s3:
            env = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}
            remote = DeltaLake(storage_for(f"s3://{s3.bucket}/lake", {"endpoint": s3.endpoint, "region": s3.region},
                                           environ=env), env)
            started = time.perf_counter()
            result = migrate(Layout(old), remote, raw=False)
            migrate_s3 = time.perf_counter() - started
            assert not result.mismatches, result.mismatches[:5]
            log(f"migrated to Delta on S3 in {migrate_s3:.0f} s")

            rows = {}
            figures = {}
            mirror = work / "mirror"
            started = time.perf_counter()
            delta_connection(remote, mirror=mirror).close()
            first_open = time.perf_counter() - started
            size = sum(p.stat().st_size for p in mirror.rglob("*.parquet"))
            log(f"mirror: first open (every data file fetched, {size / 2**20:,.0f} MiB) {first_open:.1f} s")
            for name, connect in (("compacted local lake (catalog file)", _catalog(old / "inventory.duckdb")),
                                  ("Delta on disk", _delta(local)), ("Delta on S3", _delta(remote)),
                                  ("Delta on S3 through the mirror", _delta(remote, mirror))):
                figures[name] = (_time(connect, _first_query), _time(connect, _capacity))
                con = connect()
                try:
                    rows[name] = _capacity(con)
                finally:
                    con.close()
                log(f"{name}: open + first query {figures[name][0]:.2f} s, capacity report {figures[name][1]:.2f} s "
                    f"({rows[name]:,} rows)")
        assert len(set(rows.values())) == 1, rows
    scale = f"{days} d x 24 x {pools:,} pools"
    base = "compacted local lake (catalog file)"
    out = []
    for name in ("Delta on disk", "Delta on S3", "Delta on S3 through the mirror"):
        open_s, cap_s = figures[name]
        target = name.startswith("Delta on S3")
        out.append(Figure(f"storage: open + first query, {scale}, {name}", open_s, "s", base, figures[base][0],
                          target=f"<= {TARGET_RATIO:g}x" if target else None,
                          met=open_s <= TARGET_RATIO * figures[base][0] if target else None))
        out.append(Figure(f"storage: capacity_utilization over {days} d, {name}", cap_s, "s", base, figures[base][1],
                          target=f"<= {TARGET_RATIO:g}x" if target else None,
                          met=cap_s <= TARGET_RATIO * figures[base][1] if target else None))
    out.append(Figure(f"storage: the mirror's first open (fetches {size / 2**20:,.0f} MiB of data files)", first_open, "s",
                      "capacity report through it", figures["Delta on S3 through the mirror"][1]))
    out.append(Figure(f"storage: migrate {days} d to Delta on disk", migrate_local, "s"))
    out.append(Figure(f"storage: migrate {days} d to Delta on S3", migrate_s3, "s", "to disk", migrate_local))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=DAYS)
    ap.add_argument("--pools", type=int, default=POOLS)
    args = ap.parse_args()
    print(report(run(args.days, args.pools), Path(tempfile.gettempdir()) / "poolscope-bench-storage.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
