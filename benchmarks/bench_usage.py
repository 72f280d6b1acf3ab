"""Normalize of the usage tables (issue 13) at fleet scale: what a steady hourly snapshot adds beside the pools.

The answers are the simulator's own (runtime metrics per project; nodes, the two hourly ShowPoolMonitor calls,
workload statistics and events per pool, rendered by pipeline/simulator/*.py for a generated fleet with a day
of history), landed outside the timed region with RawLanding exactly as a snapshot lands them (one body file
per call). Timed: `stage()` of that raw set, i.e. every table normalize writes from it: pool_allocation,
pool_workload_counts, pool_metrics, nodes, node_resources, workload_statistics, pool_events, their rejections,
fetches and snapshots. Baseline, in the same run: `stage()` of the same snapshot's pool listings alone (the
200,000-pool workload of bench_normalize, whose budget is 3 s).

A floor, also in the same run: every usage answer parsed once by CPython's json (a C parser, and faster than
DuckDB's JSON reader on these bodies: 114 MB of node pages took 0.71 s against 2.3-2.9 s for `read_json` with an
explicit schema), on one core, building no row. Half of it is what parsing alone costs on this 2-core machine
however the work is split; when that half is over the 3 s budget, no normalize that reads the answers after the
fetch can meet it here.

    .venv/bin/python -m benchmarks.bench_usage                   # 200,000 pools (1,000 projects x 200)
    .venv/bin/python -m benchmarks.bench_usage --projects 100    # 20,000 pools
"""

import argparse
import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from benchmarks.harness import Figure, report
from pipeline.land.landing import Attempt, RawLanding, TargetRef
from pipeline.lake.layout import Layout
from pipeline.normalize.step import stage
from pipeline.simulator.fleet import Fleet
from pipeline.simulator.monitor import pool_monitor
from pipeline.simulator.runtime import runtime_metrics
from pipeline.simulator.workloads import workload_statistics

PROJECTS, POOLS_PER_PROJECT, SEED = 1000, 200, 13
ENDPOINT = "https://modelarts.bench.example"
TARGET_S = 3.0


def log(message: str) -> None:
    print(f"  bench_usage: {message}", file=sys.stderr, flush=True)


def _record(landing: RawLanding, call: str, ref: TargetRef, pool_id, path: str, query: str, doc, at, page=0):
    body = json.dumps(doc, separators=(",", ":")).encode()
    landing.record(call=call, target=ref, pool_id=pool_id, method="GET", path=path, query=query, outcome="ok",
                   error_msg=None, attempts=[Attempt(1, at, 5.0, 200, "ok", None, "r" * 32, body)], page=page)


def land(root: Path, fleet: Fleet, *, usage: bool) -> Path:
    """One snapshot's raw set at the fleet's clock: the listings, and with `usage` every family's answers."""
    at = fleet.now
    landing = RawLanding(Layout(root), at.strftime("%Y%m%dT%H%M%SZ"), at)
    end_ms = int(at.replace(minute=0, second=0, microsecond=0).timestamp() * 1000)
    hour = f"{end_ms - 3_600_000}.{end_ms}.60"  # the steady state: each pool's cursor is an hour old
    targets = []
    for project in fleet.projects:
        pid = project.id
        ref = TargetRef(project.region, pid, ENDPOINT)
        targets.append({"region": project.region, "project_id": pid, "endpoint": ENDPOINT, "workspace_id": None})
        _record(landing, "list_pools", ref, None, f"/v2/{pid}/pools", "",
                {"apiVersion": "v2", "kind": "PoolList", "items": fleet.pools(pid)}, at)
        if not usage:
            continue
        states = fleet.pool_states(pid)
        _record(landing, "runtime_metrics", ref, None, f"/v2/{pid}/metrics/runtime/pools", "",
                runtime_metrics(fleet.seed, states, at), at)
        for state in states:
            name = state.name
            _record(landing, "pool_nodes", ref, name, f"/v2/{pid}/pools/{name}/nodes", "",
                    {"apiVersion": "v2", "kind": "NodeList", "metadata": {}, "items": fleet.nodes(pid, name) or []}, at)
            for page, statistic in enumerate(("average", "maximum")):
                query = {"time_range": hour, "statistics": statistic, "period": "3600"}
                _record(landing, "pool_monitor", ref, name, f"/v2/{pid}/pools/{name}/monitor",
                        "&".join(f"{k}={v}" for k, v in query.items()),
                        pool_monitor(fleet.seed, state, query, at), at, page=page)
            _record(landing, "workload_statistics", ref, name, f"/v2/{pid}/statistics/pools/{name}/workloads", "",
                    workload_statistics(fleet.seed, state, at), at)
            since = int((at - timedelta(hours=1)).timestamp())
            _record(landing, "pool_events", ref, name, f"/v1/{pid}/events", f"resource=pools&name={name}&since={since}",
                    {"apiVersion": "v1", "kind": "EventList", "metadata": {},
                     "items": fleet.events(pid, name, since=since)}, at)
    return landing.seal({"targets": targets})


def parse_floor(raw_dir: Path) -> tuple[float, int]:
    """Seconds to json.loads every landed usage answer once (one core), and their bytes."""
    usage = set(("runtime_metrics", "pool_nodes", "pool_monitor", "workload_statistics", "pool_events"))
    with open(raw_dir / "calls.jsonl", encoding="utf-8") as fh:
        calls = [c for c in map(json.loads, fh) if c["call"] in usage and c["outcome"] == "ok"]
    blobs = {}
    for c in calls:
        if c["body_file"] not in blobs:
            blobs[c["body_file"]] = (raw_dir / c["body_file"]).read_bytes()
    bodies = [blobs[c["body_file"]][c["body_offset"]:c["body_offset"] + c["body_bytes"]]
              if c.get("body_offset") is not None else blobs[c["body_file"]] for c in calls]
    blobs.clear()
    start = time.perf_counter()
    for body in bodies:
        json.loads(body)
    return time.perf_counter() - start, sum(map(len, bodies))


def time_stage(root: Path, raw_dir: Path) -> tuple[float, dict[str, int]]:
    start = time.perf_counter()
    staged = stage(Layout(root), raw_dir, raw_dir.parent.name.split("=", 1)[1])
    return time.perf_counter() - start, staged.rows


def run(projects: int = PROJECTS, pools_per_project: int = POOLS_PER_PROJECT) -> list[Figure]:
    n = projects * pools_per_project
    with tempfile.TemporaryDirectory(prefix="poolscope-bench-usage-") as tmp:
        work = Path(tmp)
        log(f"generating {projects:,} projects x {pools_per_project} pools and a day of history ...")
        fleet = Fleet(SEED, projects, pools_per_project)
        fleet.advance(24)
        log("landing the listings alone, then the listings with every family ...")
        base_raw = land(work / "base", fleet, usage=False)
        usage_raw = land(work / "usage", fleet, usage=True)
        with open(usage_raw / "calls.jsonl", encoding="utf-8") as fh:
            files = sum(1 for _ in fh)  # one body per call (in its own file, or a line of its family's pack)
        size = sum(p.stat().st_size for p in (usage_raw / "bodies").iterdir())
        log(f"  {files:,} bodies landed, {size / 2**20:,.0f} MiB")
        t_parse, parsed = parse_floor(usage_raw)
        log(f"  json.loads of every usage answer ({parsed / 2**20:,.0f} MiB), one core: {t_parse:.2f} s")
        t_base, rows_base = time_stage(work / "base", base_raw)
        t_usage, rows_usage = time_stage(work / "usage", usage_raw)
        new = {t: r for t, r in rows_usage.items() if t not in rows_base or t in ("fetches",)}
        log(f"stage: listings {t_base:.2f} s; with every family {t_usage:.2f} s; rows {new}")
    return [Figure(f"normalize, listings only, {n:,} pools", t_base, "s"),
            Figure(f"normalize with every usage family, {n:,} pools ({files:,} bodies)", t_usage, "s",
                   f"listings only, {n:,} pools", t_base,
                   target=f"usage tables <= {TARGET_S:g} s", met=(t_usage - t_base) <= TARGET_S),
            Figure(f"floor: json.loads of every usage answer ({parsed / 2**20:,.0f} MiB), split over 2 cores",
                   t_parse / 2, "s", "usage tables' share of normalize", t_usage - t_base,
                   target=f"<= {TARGET_S:g} s for the budget to be reachable", met=t_parse / 2 <= TARGET_S)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projects", type=int, default=PROJECTS)
    ap.add_argument("--pools-per-project", type=int, default=POOLS_PER_PROJECT)
    args = ap.parse_args()
    print(report(run(args.projects, args.pools_per_project), Path(tempfile.gettempdir()) / "poolscope-bench-usage.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
