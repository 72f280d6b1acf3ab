"""`poolscope snapshot` end to end, as a user runs it: the real CLI in a subprocess, against `poolscope
simulator` in another (issue 5):

- #5 end to end on the fetch workload (1,000 projects x 20 pools, 50 ms latency, 200 req/s per-AK
  throttle; the fetch settings of bench_fetch). Baseline, same run: the throttle bound (5 s) plus the time
  `normalize` takes over the very bodies the CLI landed; target <= 15 s.
- #3 peak memory of the CLI process on a 200,000-pool estate (1,000 projects x 200 pools, no faults):
  a launcher's `os.wait4` gives the CLI's own peak RSS. Target <= 1.5 GiB, which only holds if bodies
  stream to disk as they arrive and nothing holds all documents as Python objects. A second figure runs
  only the fetch and landing (`pipeline.land.step.land`) on the same estate: the fetch side's share.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from benchmarks import simproc
from benchmarks.bench_fetch import FETCH, LATENCY_MS, LISTING_ONLY, POOLS_PER_PROJECT, PROJECTS, THROTTLE
from benchmarks.harness import Figure
from pipeline.normalize.documents import normalize
from pipeline.normalize.step import raw_bodies

BIG_PROJECTS, BIG_POOLS_PER_PROJECT = 1000, 200
E2E_TARGET_S = 15.0
RSS_TARGET_MIB = 1536.0
REPO = Path(__file__).resolve().parents[1]


# Linux keeps a process's peak RSS across exec, and a child spawned by vfork/fork + exec starts from its
# parent's peak: wait4 on a direct child of this benchmark process would report at least this process's own
# peak (the in-process normalize benchmark's, say). So the measured command is forked from a small launcher,
# whose wait4 sees the command's own peak only.
_LAUNCHER = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as fh:
    fh.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(cmd: list[str], work: Path) -> tuple[float, int, str, float]:
    """(wall s, exit code, output, peak RSS MiB) of one command."""
    rss_file = work / "maxrss.txt"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _LAUNCHER, str(rss_file), *cmd], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=simproc.cli_env(), cwd=REPO)
    wall = time.perf_counter() - start
    return wall, proc.returncode, proc.stdout, int(rss_file.read_text()) / 1024  # ru_maxrss is KiB on Linux


def snapshot_command(config: Path) -> list[str]:
    return simproc.poolscope_command() + ["snapshot", "--config", str(config), "--no-progress"]


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
                       rate_limit=THROTTLE, fetch=FETCH,
                       collect=LISTING_ONLY) as sim:
        cmd = snapshot_command(sim.config)
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=simproc.cli_env())
        wall = time.perf_counter() - start
    output = proc.stdout
    if proc.returncode != 0:
        raise RuntimeError(f"poolscope snapshot exited {proc.returncode}:\n{output[-2000:]}")
    snapshot_id = _snapshot_id(output)
    raw_dir = _raw_dir(work / "data", snapshot_id)
    bodies = raw_bodies(raw_dir, snapshot_id)
    out = work / "normalize-baseline"
    out.mkdir()
    start = time.perf_counter()
    rows = normalize(bodies, out)
    normalize_s = time.perf_counter() - start
    bound = PROJECTS / THROTTLE
    baseline = bound + normalize_s
    return [
        Figure(f"snapshot CLI end to end, {PROJECTS} x {POOLS_PER_PROJECT} pools ({_pools(output)} landed, "
               f"fetch+land {_fetch_seconds(raw_dir):.2f} s)", wall, "s",
               f"throttle bound {bound:g} s + normalize {normalize_s:.2f} s ({rows.get('pools', 0)} pools)",
               baseline, target=f"<= {E2E_TARGET_S:g} s", met=wall <= E2E_TARGET_S),
    ]


def _land_main(config_path: str, root: str) -> int:
    from pipeline.config import load_config
    from pipeline.land.step import land, load_credentials

    config = load_config(config_path)
    config = config.model_copy(update={"storage": config.storage.model_copy(update={"root": Path(root)})})
    land(config, load_credentials(config))
    return 0


def peak_memory(work: Path) -> list[Figure]:
    with simproc.start(work, projects=BIG_PROJECTS, pools_per_project=BIG_POOLS_PER_PROJECT, fetch=FETCH,
                       collect=LISTING_ONLY) as sim:
        land = [sys.executable, "-m", "benchmarks.bench_snapshot", "--land", str(sim.config), str(work / "land-only")]
        _, land_code, land_output, land_rss = run_measured(land, work)
        wall, code, output, rss = run_measured(snapshot_command(sim.config), work)
    if code != 0 or land_code != 0:
        raise RuntimeError(f"exit codes: snapshot {code}, land {land_code}:\n{output[-2000:]}{land_output[-2000:]}")
    pools = _pools(output)
    raw_dir = _raw_dir(work / "data", _snapshot_id(output))
    landed = sum(f.stat().st_size for f in (raw_dir / "bodies").iterdir()) / 2**20
    expected = BIG_PROJECTS * BIG_POOLS_PER_PROJECT
    return [
        Figure(f"snapshot CLI peak RSS, {pools} pools ({landed:.0f} MiB of bodies landed, wall {wall:.1f} s)",
               rss, "MiB", target=f"<= {RSS_TARGET_MIB:g} MiB, all {expected} pools",
               met=rss <= RSS_TARGET_MIB and pools == expected),
        Figure("  of which fetch + land alone (same estate, a child running pipeline.land.step.land)", land_rss,
               "MiB", "the whole CLI", rss),
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


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--land":
        sys.exit(_land_main(sys.argv[2], sys.argv[3]))
    sys.exit("usage: python -m benchmarks.bench_snapshot --land CONFIG ROOT (the child of the memory figure)")
