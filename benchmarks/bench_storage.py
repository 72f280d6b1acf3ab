"""Issue 14: the lake's Delta tables on a local disk and on S3 (SeaweedFS on loopback): a year of hourly snapshots
of 2,000 pools, opened and queried.

The lake: `fleet_lake.make_compacted_fleet_lake` (what the daily compaction leaves: one file per table and day),
written twice, to a folder (with its catalog, built as a snapshot's last step builds it) and to a bucket. Timed on
each, the way an analyst meets it:
- open: a connection with every documented view (the catalog file on disk; `delta_connection` for the bucket),
  then the first query of the biggest table;
- the capacity_utilization report over the whole range (pipeline.reports.tables.report_arrow).
The bucket is read two ways: through pyarrow's datasets, and through the mirror (pipeline/lake/mirror.py: the
data files copied once to a local folder; its first open, which fetches them all, is a figure of its own).
Baseline, in the same run: the local lake through its catalog file. Target: the bucket within 2x of it.

    .venv/bin/python -m benchmarks.bench_storage              # 365 days (~20 minutes)
    .venv/bin/python -m benchmarks.bench_storage --days 90
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
from pipeline.lake.storage import storage_for
from pipeline.reports.tables import report_arrow

ROOT = Path(__file__).resolve().parents[1]
DAYS, POOLS = 365, 2000
TARGET_RATIO = 2.0


def seaweed_server(folder: Path):
    """The test kit's real S3 server (tests/s3kit.py: SeaweedFS's `weed mini` on free loopback ports, a bucket,
    SigV4 credentials), as a context manager; the benchmarks that need a bucket start it through here."""
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    from s3kit import seaweed

    return seaweed(folder)


def s3_credentials(s3) -> dict[str, str]:
    """The environment variables a lake in `s3` (a running seaweed_server) reads its credentials from."""
    return {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}


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
    base = "local lake (catalog file)"
    with tempfile.TemporaryDirectory(prefix="poolscope-bench-storage-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        counts = make_compacted_fleet_lake(work / "local", days=days, pools=pools)
        build_catalog(Layout(work / "local"), table_docs())
        write_local = time.perf_counter() - started
        log(f"wrote {counts['snapshots']:,} snapshots, {counts['pools']:,} pool rows to disk in {write_local:.0f} s")
        local = Layout(work / "local").tables()
        with seaweed_server(work / "s3") as s3:
            env = s3_credentials(s3)
            remote = DeltaLake(storage_for(f"s3://{s3.bucket}/lake", {"endpoint": s3.endpoint, "region": s3.region},
                                           environ=env), env)
            started = time.perf_counter()
            make_compacted_fleet_lake(work / "gen", days=days, pools=pools, lake=remote)
            write_s3 = time.perf_counter() - started
            log(f"wrote the same to S3 in {write_s3:.0f} s")
            mirror = work / "mirror"
            started = time.perf_counter()
            delta_connection(remote, mirror=mirror).close()
            first_open = time.perf_counter() - started
            size = sum(p.stat().st_size for p in mirror.rglob("*.parquet"))
            log(f"mirror: first open (every data file fetched, {size / 2**20:,.0f} MiB) {first_open:.1f} s")
            rows, figures = {}, {}
            for name, connect in ((base, _catalog(work / "local" / "inventory.duckdb")),
                                  ("Delta on disk, no catalog file", _delta(local)),
                                  ("Delta on S3", _delta(remote)),
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
    out = []
    for name in ("Delta on disk, no catalog file", "Delta on S3", "Delta on S3 through the mirror"):
        open_s, cap_s = figures[name]
        target = name.startswith("Delta on S3")
        out.append(Figure(f"storage: open + first query, {scale}, {name}", open_s, "s", base, figures[base][0],
                          target=f"<= {TARGET_RATIO:g}x" if target else None,
                          met=open_s <= TARGET_RATIO * figures[base][0] if target else None))
        out.append(Figure(f"storage: capacity_utilization over {days} d, {name}", cap_s, "s", base, figures[base][1],
                          target=f"<= {TARGET_RATIO:g}x" if target else None,
                          met=cap_s <= TARGET_RATIO * figures[base][1] if target else None))
    out.append(Figure(f"storage: the mirror's first open (fetches {size / 2**20:,.0f} MiB of data files)", first_open,
                      "s", "capacity report through it", figures["Delta on S3 through the mirror"][1]))
    out.append(Figure(f"storage: write {days} d of compacted days to S3", write_s3, "s", "to disk", write_local))
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
