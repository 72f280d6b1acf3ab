"""normalize(): raw landed bodies -> every Parquet table, against a plain Python loop + pandas writing the same
tables and against a dlt pipeline into DuckDB, all on the same raw files, in the same run.

The documents are the simulator fleet generator's (`generate_pools`), landed outside the timed region the way
pipeline/land/landing.py lands them: one compact ListPools body per project (`bodies/<call>-<attempt>.body`),
projects of 20, 50, 100 and 200 pools (a quarter of the documents each), with the BodyRefs that
pipeline/land/step.py, pipeline/normalize/step.py's `_bodies` builds from the call log.

    .venv/bin/python -m benchmarks.bench_normalize              # the figures `make bench` prints
    .venv/bin/python -m benchmarks.bench_normalize --docs 200000 --only normalize --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path

from benchmarks.harness import Figure, best_of
from benchmarks.pool_reference import python_pandas
from pipeline.normalize.documents import BodyRef, normalize
from pipeline.simulator.generate import domain_id_for, generate_pools
from pipeline.simulator.projects import check_regions, project_info

SMALL, LARGE = 20_000, 200_000
SEED = 5
BODY_SIZES = (20, 50, 100, 200)  # pools per project, i.e. per ListPools body
SNAPSHOT_ID = "20261128T060000Z"
SNAPSHOT_AT = datetime(2026, 11, 28, 6, tzinfo=timezone.utc)
TARGET_S = 3.0
LOOP_X, DLT_X = 3.0, 30.0

_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # as the API sends them


def land(raw_dir: Path, n: int, seed: int = SEED) -> list[BodyRef]:
    """Write n generated pools as landed ListPools bodies under raw_dir; return their BodyRefs in call order."""
    (raw_dir / "bodies").mkdir(parents=True, exist_ok=True)
    refs: list[BodyRef] = []
    regions = check_regions(None)
    for k, per_project in enumerate(BODY_SIZES):
        share = n // len(BODY_SIZES) + (1 if k < n % len(BODY_SIZES) else 0)
        part_seed = seed * 1000 + per_project  # a fleet of its own per body size: distinct projects
        docs = generate_pools(share, part_seed, pools_per_project=per_project)
        for index in range(-(-share // per_project)):
            items = list(islice(docs, per_project))
            info = project_info(part_seed, index, domain_id_for(part_seed), regions)
            call_id = f"{len(refs) + 1:06d}"
            path = raw_dir / "bodies" / f"{call_id}-1.body"
            path.write_bytes(_ENCODE({"apiVersion": "v2", "kind": "PoolList", "items": items}).encode("utf-8"))
            refs.append(BodyRef(snapshot_id=SNAPSHOT_ID, snapshot_at=SNAPSHOT_AT, region=info.region,
                                project_id=info.id, source="list_pools", path=str(path), response_id=call_id))
    return refs


def time_normalize(refs: list[BodyRef], out: Path, repeat: int) -> tuple[float, dict[str, int]]:
    counts: dict[str, int] = {}

    def once():
        counts.update(normalize(refs, out))

    return best_of(once, repeat), counts


def time_loop(refs: list[BodyRef], out: Path, repeat: int, expect: dict[str, int]) -> float:
    counts: dict[str, int] = {}

    def once():
        counts.update(python_pandas(refs, out))
        gc.collect()  # its garbage is its own cost, not the next measurement's

    seconds = best_of(once, repeat)
    if counts != expect:  # the baseline must write the same tables
        raise AssertionError(f"the Python baseline wrote other tables: {counts} != {expect}")
    return seconds


def time_dlt(refs: list[BodyRef], work: Path) -> tuple[float | None, str]:
    """Seconds for a dlt pipeline (default normalization: nested lists become child tables) loading the
    documents of `refs`, read from the same files, into a DuckDB file; (None, reason) when dlt is missing."""
    os.environ["DLT_DATA_DIR"] = str(work / "dlt-data")  # not ~/.dlt
    os.environ["DLT_PROJECT_DIR"] = str(work)  # no .dlt/ config from the working directory
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    try:
        import dlt
    except ImportError as e:
        return None, f"dlt not importable ({e}); `make bench` installs the bench group"

    def documents():
        for ref in refs:
            body = json.loads(Path(ref.path).read_bytes())
            for item in body["items"]:
                item["_snapshot_id"], item["_region"] = ref.snapshot_id, ref.region
                item["_project_id"], item["_response_id"] = ref.project_id, ref.response_id
                yield item

    pipeline = dlt.pipeline(pipeline_name="bench_normalize", pipelines_dir=str(work / "dlt-pipelines"),
                            destination=dlt.destinations.duckdb(str(work / "dlt.duckdb")), dataset_name="pools")
    start = time.perf_counter()
    pipeline.run(dlt.resource(documents(), name="pools"))
    seconds = time.perf_counter() - start
    rows = pipeline.last_trace.last_normalize_info.row_counts
    return seconds, f"{sum(rows.values())} rows in {len(rows)} tables"


def _time_target(seconds: float, docs: int) -> tuple[str | None, bool | None]:
    """The time target applies to the 200,000-document workload only."""
    return (f"<= {TARGET_S:g} s", seconds <= TARGET_S) if docs == LARGE else (None, None)


def loop_figures(refs_small, refs_large, work: Path, t_small: float, t_large: float, counts_small: dict,
                 counts_large: dict, repeat: int, measure_large: bool) -> list[Figure]:
    """normalize against the Python loop + pandas, on both workloads (the large one scaled if asked)."""
    small, large = counts_small["pools"], counts_large["pools"]
    try:
        loop_small = time_loop(refs_small, work / "loop-small", max(1, repeat // 2), counts_small)
    except ImportError as e:  # pandas: a runtime dependency, so only a broken environment lacks it
        note = f"pandas not importable ({e}); `make install` installs it"
        return [Figure(f"normalize {small:,} pool docs: loop baseline SKIPPED, {note}", t_small, "s"),
                Figure(f"normalize {large:,} pool docs: loop baseline SKIPPED", t_large, "s", None, None,
                       *_time_target(t_large, large))]
    log(f"Python loop + pandas: {loop_small:.2f} s ({small:,})")
    if measure_large:
        loop_large = time_loop(refs_large, work / "loop-large", 1, counts_large)
        loop_large_name = f"Python loop + pandas, {large:,} docs"
    else:
        loop_large = loop_small * large / small
        loop_large_name = f"Python loop + pandas, {small:,} docs x {large / small:g} (scaled, not measured)"
    log(f"Python loop + pandas: {loop_large:.2f} s ({large:,})")
    shutil.rmtree(work / "loop-large", ignore_errors=True)
    return [
        Figure(f"normalize {small:,} pool docs (raw -> Parquet)", t_small, "s",
               f"Python loop + pandas, {small:,} docs", loop_small,
               target=f">= {LOOP_X:g}x faster than the loop", met=loop_small >= LOOP_X * t_small),
        Figure(f"normalize {large:,} pool docs (raw -> Parquet)", t_large, "s", loop_large_name, loop_large,
               target=(f"<= {TARGET_S:g} s, " if large == LARGE else "") + f">= {LOOP_X:g}x faster than the loop",
               met=(t_large <= TARGET_S or large != LARGE) and loop_large >= LOOP_X * t_large),
    ]


def run(small: int = SMALL, large: int = LARGE, repeat: int = 5, loop_large: bool = True,
        only: str | None = None) -> list[Figure]:
    figures = []
    with tempfile.TemporaryDirectory(prefix="poolscope-bench-normalize-") as tmp:
        work = Path(tmp)
        log(f"landing {small:,} and {large:,} generated pools ...")
        refs_small, refs_large = land(work / "raw-small", small), land(work / "raw-large", large)
        log(f"  {len(refs_small)} and {len(refs_large)} bodies")

        t_small, counts_small = time_normalize(refs_small, work / "out-small", repeat)
        t_large, counts_large = time_normalize(refs_large, work / "out-large", repeat)
        log(f"normalize: {t_small:.3f} s ({small:,}), {t_large:.3f} s ({large:,}); {counts_large}")
        if only == "normalize":
            return [Figure(f"normalize {small:,} pool docs", t_small, "s"),
                    Figure(f"normalize {large:,} pool docs", t_large, "s", None, None, *_time_target(t_large, large))]

        figures += loop_figures(refs_small, refs_large, work, t_small, t_large, counts_small, counts_large,
                                repeat, loop_large)

        gc.collect()
        t_dlt, note = time_dlt(refs_small, work)
        log(f"dlt: {t_dlt if t_dlt is None else f'{t_dlt:.2f} s'} ({small:,}; {note})")
        if t_dlt is None:
            figures.append(Figure(f"normalize {small:,} pool docs vs dlt: SKIPPED, {note}", t_small, "s",
                                  target=f">= {DLT_X:g}x faster than dlt"))
        else:
            figures.append(Figure(f"normalize {small:,} pool docs vs dlt", t_small, "s",
                                  f"dlt[duckdb] pipeline, {small:,} docs", t_dlt,
                                  target=f">= {DLT_X:g}x faster than dlt", met=t_dlt >= DLT_X * t_small))
    return figures


def log(message: str) -> None:
    print(f"  bench_normalize: {message}", file=sys.stderr, flush=True)


def main() -> int:
    from benchmarks.harness import report

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=LARGE, help="the large workload")
    ap.add_argument("--small", type=int, default=SMALL, help="the small workload (loop and dlt baselines)")
    ap.add_argument("--repeat", type=int, default=5, help="normalize runs per workload (median)")
    ap.add_argument("--scale-loop", action="store_true", help="scale the loop from the small workload")
    ap.add_argument("--only", choices=["normalize"], help="time normalize only")
    args = ap.parse_args()
    figures = run(args.small, args.docs, args.repeat, not args.scale_loop, args.only)
    print(report(figures, Path(tempfile.gettempdir()) / "poolscope-bench-normalize.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
