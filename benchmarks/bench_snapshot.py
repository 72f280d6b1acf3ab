"""`poolscope snapshot` end to end, as a user runs it: the real CLI in a subprocess, against `poolscope
simulator` in another (issue 5):

- #5 end to end on the fetch workload (1,000 projects x 20 pools, 50 ms latency, 200 req/s per-AK
  throttle; the fetch settings of bench_fetch). Baseline, same run: the throttle bound (5 s) plus the time
  `normalize` takes over the very bodies the CLI landed; target <= 15 s.
- #3 peak memory of the CLI process on a 200,000-pool estate (1,000 projects x 200 pools, no faults):
  `os.wait4` gives the child's peak RSS. Target <= 1.5 GiB, which only holds if bodies stream to disk as they
  arrive and nothing holds all documents as Python objects.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

from benchmarks import simproc
from benchmarks.bench_fetch import FETCH, LATENCY_MS, POOLS_PER_PROJECT, PROJECTS, THROTTLE
from benchmarks.harness import Figure
from pipeline.lake.normalize import normalize
from pipeline.snapshot import _bodies

BIG_PROJECTS, BIG_POOLS_PER_PROJECT = 1000, 200
E2E_TARGET_S = 15.0
RSS_TARGET_MIB = 1536.0


def run_cli(config: Path) -> tuple[float, int, str, float]:
    """(wall s, exit code, output, peak RSS MiB) of one `poolscope snapshot`."""
    cmd = simproc.poolscope_command() + ["snapshot", "--config", str(config), "--no-progress"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=simproc.cli_env())
    output = proc.stdout.read()
    # wait4 rather than wait: it returns the child's own resource usage, peak RSS included (KiB on Linux).
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    return wall, proc.returncode, output, usage.ru_maxrss / 1024


def _snapshot_id(output: str) -> str:
    match = re.search(r"^snapshot (\S+): ", output, re.M)
    if not match:
        raise RuntimeError(f"poolscope snapshot printed no summary:\n{output[-2000:]}")
    return match.group(1)


def _pools(output: str) -> int:
    match = re.search(r"pools: (\d+);", output)
    return int(match.group(1)) if match else -1


def _raw_dir(root: Path, snapshot_id: str) -> Path:
    (raw,) = (root / "lake" / "raw" / f"snapshot_id={snapshot_id}").iterdir()
    return raw


def _fetch_seconds(raw_dir: Path) -> float:
    run = json.loads((raw_dir / "run.json").read_text(encoding="utf-8"))
    return (datetime.fromisoformat(run["sealed_at"]) - datetime.fromisoformat(run["started_at"])).total_seconds()


def end_to_end(work: Path) -> list[Figure]:
    with simproc.start(work, projects=PROJECTS, pools_per_project=POOLS_PER_PROJECT, latency_ms=LATENCY_MS,
                       rate_limit=THROTTLE, fetch=FETCH) as sim:
        wall, code, output, rss = run_cli(sim.config)
    if code != 0:
        raise RuntimeError(f"poolscope snapshot exited {code}:\n{output[-2000:]}")
    snapshot_id = _snapshot_id(output)
    raw_dir = _raw_dir(work / "data", snapshot_id)
    bodies = _bodies(raw_dir, snapshot_id)
    out = work / "normalize-baseline"
    out.mkdir()
    start = time.perf_counter()
    rows = normalize(bodies, out)
    normalize_s = time.perf_counter() - start
    bound = PROJECTS / THROTTLE
    baseline = bound + normalize_s
    return [
        Figure(f"snapshot CLI end to end, {PROJECTS} x {POOLS_PER_PROJECT} pools ({_pools(output)} landed, "
               f"fetch+land {_fetch_seconds(raw_dir):.2f} s, peak RSS {rss:.0f} MiB)", wall, "s",
               f"throttle bound {bound:g} s + normalize {normalize_s:.2f} s ({rows.get('pools', 0)} pools)",
               baseline, target=f"<= {E2E_TARGET_S:g} s", met=wall <= E2E_TARGET_S),
    ]


def peak_memory(work: Path) -> list[Figure]:
    with simproc.start(work, projects=BIG_PROJECTS, pools_per_project=BIG_POOLS_PER_PROJECT, fetch=FETCH) as sim:
        wall, code, output, rss = run_cli(sim.config)
    if code != 0:
        raise RuntimeError(f"poolscope snapshot exited {code}:\n{output[-2000:]}")
    pools = _pools(output)
    raw_dir = _raw_dir(work / "data", _snapshot_id(output))
    landed = sum(f.stat().st_size for f in (raw_dir / "bodies").iterdir()) / 2**20
    expected = BIG_PROJECTS * BIG_POOLS_PER_PROJECT
    return [
        Figure(f"snapshot CLI peak RSS, {pools} pools ({landed:.0f} MiB of bodies landed, wall {wall:.1f} s)",
               rss, "MiB", target=f"<= {RSS_TARGET_MIB:g} MiB, all {expected} pools",
               met=rss <= RSS_TARGET_MIB and pools == expected),
    ]


def run() -> list[Figure]:
    work = Path(tempfile.mkdtemp(prefix="poolscope-bench-snapshot-"))
    try:
        figures = end_to_end(work / "e2e")
        shutil.rmtree(work / "e2e", ignore_errors=True)
        figures += peak_memory(work / "memory")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures
