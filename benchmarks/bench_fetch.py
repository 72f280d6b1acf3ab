"""Fetch (issue 5, #1): 1,000 projects x 20 pools through a simulated gateway with 50 ms latency and a
200 req/s per-AK throttle, against two baselines measured in the same run:

- the throttle bound: 1,000 requests at 200 req/s take 5 s however good the client is;
- the official SDK (`huaweicloudsdkmodelarts`) in a sequential loop, one ListPools per project: a
  50-project sample, scaled to 1,000 (x20), since 1,000 sequential calls would take over a minute.

The simulator runs as `poolscope simulator` in a child process (see simproc.py). Ours is `land()`, what
`poolscope snapshot` does before normalizing: every target fetched, every body landed on disk.

The fetch settings are those a user would write for this estate (one AK, a 200 req/s gateway limit, 50 ms
round trips): `rate_limit: 190` keeps 5% under the limit, so that clock drift between our bucket and the
gateway's never turns into 429s; `concurrency: 20` is twice what Little's law asks for (190 req/s x ~50 ms
= ~10 in flight), headroom for slower answers without a large idle connection pool (httpcore's pool does
work per connection for every request).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from collections import Counter

import httpx
from pathlib import Path

from benchmarks import simproc
from benchmarks.harness import Figure
from pipeline.config import load_config
from pipeline.modelarts import AkSkCredentials, ModelArtsClient
from pipeline.flow import run_snapshot
from pipeline.land.step import land

PROJECTS, POOLS_PER_PROJECT = 1000, 20
LATENCY_MS, THROTTLE = 50.0, 200.0
FETCH = {"rate_limit": 190, "concurrency": 20}
# The listing alone (the figures before issue 13), and every call family a snapshot can make.
LISTING_ONLY = {"runtime_metrics": False, "pool_nodes": False, "pool_monitor": False, "workload_statistics": False,
                "pool_events": False}
EVERY_FAMILY = {family: True for family in LISTING_ONLY}
SDK_SAMPLE = 50
PROBE_REQUESTS, PROBE_CONCURRENCY = 1000, 64


def raw_counts(raw_dir: Path) -> tuple[Counter, Counter]:
    """(attempts by HTTP status or reason, calls by outcome) of a landed raw set."""
    attempts: Counter = Counter()
    with open(raw_dir / "responses.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            attempts[r["http_status"] or r["reason"]] += 1
    outcomes: Counter = Counter()
    with open(raw_dir / "calls.jsonl", encoding="utf-8") as fh:
        for line in fh:
            outcomes[json.loads(line)["outcome"]] += 1
    return attempts, outcomes


def sdk_loop(url: str, project_ids: list[str]) -> tuple[float, int]:
    """Seconds for one sequential ListPools per project with the official SDK, and the pools it returned.

    Clients are built before the clock starts (one per project: the SDK binds the project id to its
    credentials), so only the calls are timed, which flatters the SDK if anything.
    """
    home = os.environ.get("HOME")
    # The SDK writes ~/.huaweicloud on import: keep it out of the user's home.
    sdk_home = tempfile.mkdtemp(prefix="poolscope-bench-home-")
    os.environ["HOME"] = sdk_home
    try:
        from huaweicloudsdkcore.auth.credentials import BasicCredentials
        from huaweicloudsdkcore.http.http_config import HttpConfig
        from huaweicloudsdkmodelarts.v1 import ListPoolsRequest
        from huaweicloudsdkmodelarts.v1.modelarts_client import ModelArtsClient as SdkClient

        config = HttpConfig.get_default_config()
        config.timeout = (10, 60)
        clients = [
            SdkClient.new_builder().with_http_config(config)
            .with_credentials(BasicCredentials(simproc.AK, simproc.SK, pid)).with_endpoints([url]).build()
            for pid in project_ids
        ]
        pools = 0
        start = time.perf_counter()
        for client in clients:
            pools += len(client.list_pools(ListPoolsRequest()).items or [])
        return time.perf_counter() - start, pools
    finally:
        if home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = home
        shutil.rmtree(sdk_home, ignore_errors=True)


async def _probe(url: str, project_ids: list[str]) -> float:
    creds = AkSkCredentials(simproc.AK, simproc.SK)
    async with ModelArtsClient(url, creds, rate_limit=None, concurrency=PROBE_CONCURRENCY) as client:
        start = time.perf_counter()
        await asyncio.gather(*(client.list_pools(project_ids[i % len(project_ids)])
                               for i in range(PROBE_REQUESTS)))
        return PROBE_REQUESTS / (time.perf_counter() - start)


def simulator_capacity(work: Path) -> float:
    """Requests/s a throttle-free simulator (same latency, same pools per project) serves our client at
    64 in flight. A lower bound: the client shares the machine and may be the slower side."""
    with simproc.start(work, projects=100, pools_per_project=POOLS_PER_PROJECT, latency_ms=LATENCY_MS) as sim:
        return asyncio.run(_probe(sim.url, sim.project_ids))


def every_family(work_root: Path | None, pools_per_project: int = POOLS_PER_PROJECT,
                 projects: int = PROJECTS) -> list[Figure]:
    """The same estate with every collect family on: about 2 calls per project + 5 per pool (runtime
    metrics per project; nodes, two ShowPoolMonitor, workload statistics, events per pool). The throttle is the
    bound: calls made / 200 req/s.

    Timed: the hourly steady state, i.e. a snapshot after one already committed (the lake's cursors then ask
    ShowPoolMonitor for the hour since the last point, ListEvents for what came since the last event), with
    the fleet advanced an hour in between (scaling, failures: new events). The fleet's clock starts at this
    hour (`--start now`), so the monitor answers carry their points as the service's would. The first snapshot, untimed here,
    is reported for its calls: it backfills monitor points (1 day in this run, `collect.monitor_backfill_days:
    1`, instead of the default 60: at 1,440 points a call, 40,000 monitor calls would land ~20 GB)."""
    work = Path(tempfile.mkdtemp(prefix="poolscope-bench-fetch-all-", dir=work_root))
    collect = dict(EVERY_FAMILY, monitor_backfill_days=1)
    try:
        with simproc.start(work, projects=projects, pools_per_project=pools_per_project, latency_ms=LATENCY_MS,
                           rate_limit=THROTTLE, fetch=FETCH, collect=collect, start="now") as sim:
            config = load_config(sim.config)
            creds = AkSkCredentials(simproc.AK, simproc.SK)
            start = time.perf_counter()
            first = run_snapshot(config, credentials=creds)
            first_wall = time.perf_counter() - start
            first_calls = first.rows.get("fetches", 0)
            httpx.post(f"{sim.url}/_simulator/advance", params={"hours": 1}, timeout=60).raise_for_status()
            time.sleep(1.0)  # the gateway's bucket refills
            start = time.perf_counter()
            _, raw_dir = land(config, creds)
            wall = time.perf_counter() - start
            attempts, outcomes = raw_counts(raw_dir)
            failed = Counter()
            with open(raw_dir / "calls.jsonl", encoding="utf-8") as fh:
                for line in fh:
                    c = json.loads(line)
                    # A ShowPool's 404 ModelArts.50015001 is an answer (the pool went away during the hour), as
                    # in the snapshot's own error counts (pipeline/normalize/step.py)
                    gone = c["call"] == "show_pool" and c["error_code"] == "ModelArts.50015001"
                    if c["outcome"] != "ok" and not gone:
                        failed[f"{c['call']} {c['error_code'] or c['reason']}"] += 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    calls = sum(outcomes.values())
    errors = sum(failed.values())
    if failed:
        print(f"  every family, steady state: calls in error {dict(failed)}", flush=True)
    return [
        Figure(f"first snapshot, every collect family, {projects} projects x {pools_per_project} pools "
               f"({first_calls} calls; fetch, normalize, commit, catalog)", first_wall, "s",
               f"throttle bound {first_calls}/{THROTTLE:g} req/s", first_calls / THROTTLE),
        Figure(f"fetch {projects} projects x {pools_per_project} pools, every collect family, hourly steady state "
               f"({calls} calls, {errors} in error, {attempts.get(429, 0)} 429s retried)", wall, "s",
               f"throttle bound {calls}/{THROTTLE:g} req/s", calls / THROTTLE, target="<= 1.2x the bound",
               met=errors == 0 and wall <= 1.2 * calls / THROTTLE),
    ]


def run(pools_per_project: int = POOLS_PER_PROJECT, baselines: bool = True,
        projects: int = PROJECTS) -> list[Figure]:
    """`pools_per_project` sets the listing size (20: ~39 KB bodies; 200: ~390 KB); `baselines=False` skips
    the SDK loop and the capacity probe (for a quick look at the client's own CPU)."""
    work = Path(tempfile.mkdtemp(prefix="poolscope-bench-fetch-"))
    try:
        with simproc.start(work / "throttled", projects=PROJECTS, pools_per_project=pools_per_project,
                           latency_ms=LATENCY_MS, rate_limit=THROTTLE, fetch=FETCH, collect=LISTING_ONLY) as sim:
            config = load_config(sim.config)
            creds = AkSkCredentials(simproc.AK, simproc.SK)
            cpu0 = sim.cpu()
            start, client_cpu0 = time.perf_counter(), time.process_time()
            _, raw_dir = land(config, creds)
            wall, client_cpu = time.perf_counter() - start, time.process_time() - client_cpu0
            cpu1 = sim.cpu()
            attempts, outcomes = raw_counts(raw_dir)
            if baselines:
                time.sleep(1.0)  # let the gateway's bucket refill before the SDK's turn
                sdk_s, sdk_pools = sdk_loop(sim.url, sim.project_ids[:SDK_SAMPLE])
        capacity = simulator_capacity(work / "probe") if baselines else None
    finally:
        shutil.rmtree(work, ignore_errors=True)

    bound = PROJECTS / THROTTLE
    sdk_scaled = sdk_s * PROJECTS / SDK_SAMPLE if baselines else None
    calls = sum(outcomes.values())
    errors = calls - outcomes.get("ok", 0)
    throttled = attempts.get(429, 0)
    label = f"fetch {PROJECTS} projects x {pools_per_project} pools (rate_limit {FETCH['rate_limit']}, "
    label += f"concurrency {FETCH['concurrency']})"
    figures = [
        Figure(label, wall, "s", f"throttle bound {PROJECTS}/{THROTTLE:g} req/s", bound,
               target="<= 1.5x the bound", met=wall <= 1.5 * bound),
        # This process's CPU over land(): the client (signing, HTTP, reading and checking bodies) and the
        # landing (masking, writing); the simulator runs in its own process.
        Figure("fetch: client and landing CPU per call", client_cpu / max(1, calls) * 1e3, "ms"),
        Figure(f"fetch: calls ended in error (of {calls}; {throttled} 429s retried, "
               f"{sum(attempts.values())} attempts)", errors, "calls", target="0: no 429 ends as an error",
               met=errors == 0),
    ]
    figures += every_family(work_root=None, pools_per_project=pools_per_project, projects=projects)
    if baselines:
        figures.insert(1, Figure(
            "fetch, vs the official SDK", wall, "s",
            f"SDK sequential ListPools ({SDK_SAMPLE} projects x{PROJECTS // SDK_SAMPLE}, {sdk_pools} pools)",
            sdk_scaled))
        figures.append(Figure(
            f"simulator capacity, {LATENCY_MS:g} ms latency, no throttle, {PROBE_CONCURRENCY} in flight",
            capacity, "req/s", "the throttle", THROTTLE, target=">= 2x the throttle (lower bound)",
            met=capacity >= 2 * THROTTLE))
    if cpu0 is not None and cpu1 is not None:
        # The server answers on one GIL-bound core: 1 / (CPU per request) is its ceiling in req/s.
        per_request = (cpu1 - cpu0) / max(1, sum(attempts.values()))
        figures.append(Figure("simulator CPU per request during the fetch", per_request * 1e3, "ms",
                              target=f"<= {1e3 / (2 * THROTTLE):g} ms (a ceiling of 2x the throttle)",
                              met=per_request <= 1 / (2 * THROTTLE)))
    return figures


if __name__ == "__main__":
    import argparse

    from benchmarks.harness import report

    parser = argparse.ArgumentParser(description="the fetch benchmark alone (make bench runs every benchmark)")
    parser.add_argument("--pools-per-project", type=int, default=POOLS_PER_PROJECT)
    parser.add_argument("--no-baselines", action="store_true", help="skip the SDK loop and the capacity probe")
    parser.add_argument("--every-family-only", action="store_true",
                        help="only the every-family rows (first snapshot, then the timed steady state)")
    parser.add_argument("--projects", type=int, default=PROJECTS, help="projects of the every-family rows")
    args = parser.parse_args()
    if args.every_family_only:
        figures = every_family(None, args.pools_per_project, args.projects)
    else:
        figures = run(args.pools_per_project, baselines=not args.no_baselines, projects=args.projects)
    print(report(figures, Path(tempfile.gettempdir()) / "poolscope-bench-fetch.json"))
