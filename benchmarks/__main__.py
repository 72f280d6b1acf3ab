"""`make bench`: run every benchmark, print a table with ratios to same-run baselines, write results.json."""

import sys
from pathlib import Path

from benchmarks import bench_signer
from benchmarks import bench_normalize
from benchmarks import bench_query
from benchmarks import bench_fetch
from benchmarks import bench_rate
from benchmarks import bench_snapshot
from benchmarks import bench_bucket
from benchmarks import bench_history
from benchmarks import bench_usage
from benchmarks.harness import report

BENCHMARKS = [bench_signer, bench_normalize, bench_query, bench_fetch, bench_rate, bench_snapshot, bench_bucket,
              bench_history, bench_usage]


def main() -> int:
    figures = []
    for module in BENCHMARKS:
        print(f"running {module.__name__} ...", file=sys.stderr, flush=True)
        figures.extend(module.run())
    print(report(figures, Path(__file__).parent / "results.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
