"""Adaptive request rate (issue 15): the default `fetch.rate_limit: auto` against gateways of 50, 200 and
1,000 req/s per access key (50 ms latency), side by side with the fixed default it replaced (`rate_limit: 100`,
`concurrency: 32`), and a throttle that drops from 200 to 50 req/s in the middle of a snapshot.

Each row is `land()` of PROJECTS projects (one ListPools each, the listing alone) through `poolscope simulator`
in a child process (simproc.py). The bound is calls / limit: what the gateway allows however good the client.
"auto, cold" is a first snapshot (an empty lake: the controller starts at 100 req/s); "auto, warm" the next one,
started from the rate the first settled on (stored in table snapshots, read back as the next start). A gateway
of 1,000 req/s is faster than this 2-CPU machine serves the client and the simulator together: its rows also
give the machine's own bound: the wall time of a client told the limit (`rate_limit: 1000`, `concurrency: 64`)
against no throttle at all.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks import simproc
from benchmarks.harness import Figure
from pipeline.config import load_config
from pipeline.flow import run_snapshot
from pipeline.land.step import land, read_run
from pipeline.modelarts import AkSkCredentials

PROJECTS, POOLS_PER_PROJECT, LATENCY_MS = 1000, 20, 50.0
THROTTLES = (50.0, 200.0, 1000.0)
LISTING_ONLY = {"runtime_metrics": False, "pool_nodes": False, "pool_monitor": False, "workload_statistics": False,
                "pool_events": False}
OLD_DEFAULT = {"rate_limit": 100, "concurrency": 32}
NO_NAMES = {"project_names": False}  # one IAM call per region either way: left out so that calls = projects
DROP_FROM, DROP_TO = 200.0, 50.0


def counts(raw_dir: Path) -> tuple[int, int, int, int]:
    """(calls, calls in error, attempts, attempts answered 429) of a landed raw set."""
    calls = errors = attempts = throttled = 0
    with open(raw_dir / "calls.jsonl", encoding="utf-8") as fh:
        for line in fh:
            c = json.loads(line)
            calls += 1
            errors += c["outcome"] != "ok"
    with open(raw_dir / "responses.jsonl", encoding="utf-8") as fh:
        for line in fh:
            attempts += 1
            throttled += json.loads(line)["http_status"] == 429
    return calls, errors, attempts, throttled


def _row(label: str, wall: float, raw_dir: Path, limit: float, bound: float | None = None) -> Figure:
    calls, errors, attempts, throttled = counts(raw_dir)
    rates = read_run(raw_dir).get("rates") or []
    settled = sum(r.get("settled_rps") or 0 for r in rates)
    share = throttled / max(1, calls)
    bound = bound if bound is not None else calls / limit
    return Figure(
        f"{label}: {calls} calls, {errors} in error, {throttled} 429s ({100 * share:.1f}%), settled {settled:.0f} req/s",
        wall, "s", f"calls/limit {calls}/{limit:g}", bound, target="<= 1.2x, 429s < 2%, no error",
        met=errors == 0 and share < 0.02 and wall <= 1.2 * bound)


def _land(sim: simproc.SimProcess) -> tuple[float, Path]:
    config = load_config(sim.config)
    start = time.perf_counter()
    _, raw_dir = land(config, AkSkCredentials(simproc.AK, simproc.SK))
    return time.perf_counter() - start, raw_dir


def _snapshot(sim: simproc.SimProcess) -> None:
    """A whole snapshot (landed, normalized, committed, cataloged), so that the next one reads its rate."""
    run_snapshot(load_config(sim.config), credentials=AkSkCredentials(simproc.AK, simproc.SK))


def throttle_rows(work: Path, throttle: float, projects: int) -> list[Figure]:
    rows = []
    with simproc.start(work / f"old-{throttle:g}", projects=projects, pools_per_project=POOLS_PER_PROJECT,
                       latency_ms=LATENCY_MS, rate_limit=throttle, fetch={**OLD_DEFAULT, **NO_NAMES},
                       collect=LISTING_ONLY) as sim:
        wall, raw = _land(sim)
        rows.append(_row(f"{throttle:g} req/s gateway, old default (rate_limit 100, concurrency 32)", wall, raw,
                         throttle))
    machine = None
    if throttle >= 1000:
        with simproc.start(work / "free", projects=projects, pools_per_project=POOLS_PER_PROJECT,
                           latency_ms=LATENCY_MS, fetch={"rate_limit": throttle, "concurrency": 64, **NO_NAMES},
                           collect=LISTING_ONLY) as sim:
            machine, _ = _land(sim)
    with simproc.start(work / f"auto-{throttle:g}", projects=projects, pools_per_project=POOLS_PER_PROJECT,
                       latency_ms=LATENCY_MS, rate_limit=throttle, fetch=NO_NAMES, collect=LISTING_ONLY) as sim:
        wall, raw = _land(sim)
        bound = max(projects / throttle, machine) if machine else None
        note = f" (machine bound {machine:.2f} s)" if machine else ""
        rows.append(_row(f"{throttle:g} req/s gateway, auto, cold{note}", wall, raw, throttle, bound))
        _snapshot(sim)  # stores a settled rate (the cold landing above is not committed)
        time.sleep(1.5)  # the gateway's bucket refills, as between two scheduled snapshots
        wall, raw = _land(sim)
        rows.append(_row(f"{throttle:g} req/s gateway, auto, warm{note}", wall, raw, throttle, bound))
    return rows


def drop_row(work: Path, projects: int) -> Figure:
    """The gateway's limit drops from 200 to 50 req/s once a third of the calls are made: the calls before at
    200, the rest at 50 is the bound; the pace must follow within a few seconds without errors."""
    with simproc.start(work / "drop", projects=projects, pools_per_project=POOLS_PER_PROJECT,
                       latency_ms=LATENCY_MS, rate_limit=DROP_FROM, fetch=NO_NAMES, collect=LISTING_ONLY) as sim:
        before = projects // 3
        dropped = threading.Event()

        def on_call(_rec, seen=[0]) -> None:  # noqa: B006 -- a counter private to this closure
            seen[0] += 1
            if seen[0] == before and not dropped.is_set():
                dropped.set()
                req = urllib.request.Request(f"{sim.url}/_simulator/throttle?rate_limit={DROP_TO:g}", method="POST")
                urllib.request.urlopen(req, timeout=5).close()

        config = load_config(sim.config)
        start = time.perf_counter()
        _, raw = land(config, AkSkCredentials(simproc.AK, simproc.SK), on_call=on_call)
        wall = time.perf_counter() - start
    bound = before / DROP_FROM + (projects - before) / DROP_TO
    calls, errors, attempts, throttled = counts(raw)
    share = throttled / max(1, calls)
    settled = sum(r.get("settled_rps") or 0 for r in read_run(raw).get("rates") or [])
    return Figure(f"limit drops {DROP_FROM:g} -> {DROP_TO:g} req/s after {before} calls, auto: {calls} calls, "
                  f"{errors} in error, {throttled} 429s ({100 * share:.1f}%), settled {settled:.0f} req/s",
                  wall, "s", f"{before}/{DROP_FROM:g} + {projects - before}/{DROP_TO:g}", bound,
                  target="<= 1.2x, no error", met=errors == 0 and wall <= 1.2 * bound)


def run(projects: int = PROJECTS) -> list[Figure]:
    work = Path(tempfile.mkdtemp(prefix="poolscope-bench-rate-"))
    try:
        figures = [f for throttle in THROTTLES for f in throttle_rows(work, throttle, projects)]
        figures.append(drop_row(work, projects))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


if __name__ == "__main__":
    import argparse

    from benchmarks.harness import report

    parser = argparse.ArgumentParser(description="the adaptive rate benchmark alone")
    parser.add_argument("--projects", type=int, default=PROJECTS)
    parser.add_argument("--throttle", type=float, action="append", help="only these throttles (repeatable)")
    parser.add_argument("--no-drop", action="store_true")
    args = parser.parse_args()
    if args.throttle:
        THROTTLES = tuple(args.throttle)
    work = Path(tempfile.mkdtemp(prefix="poolscope-bench-rate-"))
    try:
        figures = [f for t in THROTTLES for f in throttle_rows(work, t, args.projects)]
        if not args.no_drop:
            figures.append(drop_row(work, args.projects))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(report(figures, Path(tempfile.gettempdir()) / "poolscope-bench-rate.json"))
