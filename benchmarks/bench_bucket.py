"""Issue 14: `poolscope snapshot` end to end with the lake in a bucket (SeaweedFS on loopback), against the same
run with the lake on a local disk, measured alternately in the same benchmark run.

The workload is bench_snapshot's #5 end to end figure: the real CLI in a subprocess, against `poolscope simulator`
in another (1,000 projects x 20 pools, 50 ms latency, a 200 req/s per-AK throttle, bench_fetch's fetch settings,
the listing only). One simulator serves every snapshot, and its fleet is never advanced: every snapshot sees the
same estate. The S3 server is the test kit's (bench_storage.seaweed_server), started once; each lake is fresh (a
new folder; a new prefix in the bucket, with its own work folder), and takes two snapshots: the first creates the
Delta tables, the history and the report partitions, the second is the steady state of an hourly schedule. Each
round runs both lakes, the local one first in even rounds and the bucket first in odd ones, so that a noisy
neighbour weighs on both; the figures are the medians of the rounds.

The split per step comes from the run's Dagster event log (each lake has its own DAGSTER_HOME): land
(`raw_snapshot`: the fetch, then for a bucket the raw set's upload; the fetch alone is the raw set's run.json,
started_at to sealed_at), normalize + check + commit (`pool_tables`), history (`pool_history`), reports + catalog
+ cleanup (`inventory_catalog`), and what lies outside the steps (the process's start and imports, loading the
definitions, Dagster's run bookkeeping). Target (issue 14): the bucket within 1.5x of the local disk.

    .venv/bin/python -m benchmarks.bench_bucket                      # 1,000 x 20 pools, 3 rounds (4-7 minutes)
    .venv/bin/python -m benchmarks.bench_bucket --projects 100 --pools 20 --runs 2
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

from benchmarks import simproc
from benchmarks.bench_fetch import FETCH, LATENCY_MS, LISTING_ONLY, POOLS_PER_PROJECT, PROJECTS, THROTTLE
from benchmarks.bench_snapshot import _pools, _snapshot_id, snapshot_command
from benchmarks.bench_storage import s3_credentials, seaweed_server
from benchmarks.harness import Figure, report

RUNS = 3
TARGET_RATIO = 1.5
# Dagster step key -> what the step does (pipeline/assets/snapshot.py, pipeline/assets/reports.py).
STEPS = {"raw_snapshot": "land", "pool_tables": "normalize+check+commit", "pool_history": "history",
         "inventory_catalog": "reports+catalog+cleanup"}
LOCAL, BUCKET = "local disk", "bucket"
PHASES = ("first", "second")


def log(message: str) -> None:
    print(f"  bench_bucket: {message}", file=sys.stderr, flush=True)


def lake_config(template: Path, out: Path, storage: dict) -> Path:
    """The simulator's config (every target, the fetch settings) with `storage` as the lake's."""
    doc = yaml.safe_load(template.read_text(encoding="utf-8"))
    doc["storage"] = {**doc.get("storage", {}), **storage}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return out


def step_seconds(home: Path) -> dict[str, float]:
    """Step key -> seconds from its STEP_START to its STEP_SUCCESS, in the latest run of the instance at `home`."""
    import dagster as dg

    starts, ends = {}, {}
    with dg.DagsterInstance.from_config(str(home)) as inst:
        (run,) = inst.get_runs(limit=1)
        for record in inst.all_logs(run.run_id):
            event = record.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                starts[event.step_key] = record.timestamp
            elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                ends[event.step_key] = record.timestamp
    return {key: ends[key] - starts[key] for key in starts if key in ends}


def fetch_seconds(root: Path, snapshot_id: str) -> float:
    """The fetch alone: the landed raw set's run.json, started_at to sealed_at (`root`: the lake's local folder,
    a bucket lake's work folder)."""
    (raw,) = (root / "lake" / "raw" / f"snapshot_id={snapshot_id}").iterdir()
    run = json.loads((raw / "run.json").read_text(encoding="utf-8"))
    return (datetime.fromisoformat(run["sealed_at"]) - datetime.fromisoformat(run["started_at"])).total_seconds()


def snapshot(config: Path, root: Path, env: dict[str, str]) -> dict[str, float]:
    """One `poolscope snapshot` in a subprocess: its wall time, its steps and the fetch, in seconds."""
    start = time.perf_counter()
    proc = subprocess.run(snapshot_command(config), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, cwd=config.parent)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"poolscope snapshot exited {proc.returncode}:\n{proc.stdout[-3000:]}")
    steps = step_seconds(Path(env["DAGSTER_HOME"]))
    missing = set(STEPS) - set(steps)
    if missing:
        raise RuntimeError(f"the run's event log has no timing for step(s) {sorted(missing)}")
    out = {"wall": wall, "pools": _pools(proc.stdout), "fetch": fetch_seconds(root, _snapshot_id(proc.stdout))}
    out.update({STEPS[key]: seconds for key, seconds in steps.items() if key in STEPS})
    out["outside the steps"] = wall - sum(out[label] for label in STEPS.values())
    return out


def one_lake(kind: str, folder: Path, template: Path, env: dict[str, str], s3=None) -> dict[str, dict[str, float]]:
    """A fresh lake of `kind`, two snapshots on it: phase -> figures."""
    if kind == LOCAL:
        root = folder / "lake"
        config = lake_config(template, folder / "poolscope.yaml", {"root": str(root)})
    else:
        root = folder / "work"
        config = lake_config(template, folder / "poolscope.yaml", {
            "root": f"s3://{s3.bucket}/{folder.name}",
            "s3": {"endpoint": s3.endpoint, "region": s3.region, "path_style": True},
            "work": str(root),
        })
    env = dict(env, DAGSTER_HOME=str(folder / "dagster"))
    out = {}
    for phase in PHASES:
        time.sleep(1.0)  # the gateway's token bucket refills between snapshots
        out[phase] = snapshot(config, root, env)
        r = out[phase]
        log(f"{kind}, {phase} snapshot: {r['wall']:.2f} s ({r['pools']:.0f} pools; fetch {r['fetch']:.2f} s, "
            + ", ".join(f"{label} {r[label]:.2f} s" for label in (*STEPS.values(), "outside the steps")) + ")")
    return out


def run(projects: int = PROJECTS, pools_per_project: int = POOLS_PER_PROJECT, runs: int = RUNS) -> list[Figure]:
    work = Path(tempfile.mkdtemp(prefix="poolscope-bench-bucket-"))
    results: dict[str, dict[str, list[dict[str, float]]]] = {k: {p: [] for p in PHASES} for k in (LOCAL, BUCKET)}
    try:
        with seaweed_server(work / "s3") as s3, \
                simproc.start(work / "sim", projects=projects, pools_per_project=pools_per_project,
                              latency_ms=LATENCY_MS, rate_limit=THROTTLE, fetch=FETCH, collect=LISTING_ONLY) as sim:
            # Both lakes get the S3 credentials (the local one ignores them): the environments differ in nothing else.
            env = dict(simproc.cli_env(), **s3_credentials(s3))
            for k in range(runs):
                order = (LOCAL, BUCKET) if k % 2 == 0 else (BUCKET, LOCAL)
                for kind in order:
                    folder = work / f"{'local' if kind == LOCAL else 'bucket'}-{k}"
                    for phase, figures in one_lake(kind, folder, sim.config, env, s3).items():
                        results[kind][phase].append(figures)
                    # The bucket's objects stay until the server stops; the local copies go now (disk space).
                    shutil.rmtree(folder, ignore_errors=True)
                # The round's own ratios: its two lakes ran minutes apart, under much the same neighbours.
                log(f"round {k + 1} of {runs}: bucket / local disk " + ", ".join(
                    f"{p} snapshot {results[BUCKET][p][-1]['wall'] / results[LOCAL][p][-1]['wall']:.2f}x"
                    for p in PHASES))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures_of(results, projects, pools_per_project, runs)


def _median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def figures_of(results, projects: int, pools_per_project: int, runs: int) -> list[Figure]:
    pools = {results[k][p][0]["pools"] for k in results for p in PHASES}
    if len(pools) != 1:
        raise RuntimeError(f"the lakes saw different estates: pools {sorted(pools)}")
    scale = f"{projects} x {pools_per_project} pools ({pools.pop():.0f} landed)"
    base = f"{LOCAL}, same run"
    out = []
    for phase, what in zip(PHASES, ("first snapshot of a fresh lake (creates the tables)",
                                    "second snapshot (steady state)")):
        local, bucket = results[LOCAL][phase], results[BUCKET][phase]
        wall_b, wall_l = _median(bucket, "wall"), _median(local, "wall")
        out.append(Figure(f"bucket: snapshot CLI end to end, {scale}, {what}, median of {runs}", wall_b, "s", base,
                          wall_l, target=f"<= {TARGET_RATIO:g}x", met=wall_b <= TARGET_RATIO * wall_l))
        for label in (*STEPS.values(), "outside the steps"):
            out.append(Figure(f"  of which {label}", _median(bucket, label), "s", LOCAL, _median(local, label)))
            if label == "land":
                out.append(Figure("    of which the fetch (run.json)", _median(bucket, "fetch"), "s", LOCAL,
                                  _median(local, "fetch")))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projects", type=int, default=PROJECTS)
    ap.add_argument("--pools", type=int, default=POOLS_PER_PROJECT, help="pools per project")
    ap.add_argument("--runs", type=int, default=RUNS, help="rounds (each: a fresh lake of each kind, two snapshots)")
    args = ap.parse_args()
    figures = run(args.projects, args.pools, args.runs)
    print(report(figures, Path(tempfile.gettempdir()) / "poolscope-bench-bucket.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
