"""Running the real CLI from tests: the command, and an environment holding only the credentials a test means."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POOLSCOPE = [sys.executable, "-m", "pipeline.cli"]


def cli_env(ak: str | None = None, sk: str | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without any HUAWEICLOUD_* variable (a developer's real keys must not leak
    into a test), with the given AK/SK, the repo importable, and `extra` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUAWEICLOUD_")}
    env["PYTHONPATH"] = str(REPO)
    if ak is not None:
        env["HUAWEICLOUD_SDK_AK"] = ak
    if sk is not None:
        env["HUAWEICLOUD_SDK_SK"] = sk
    env.update(extra)
    return env


# Linux keeps a process's peak RSS across exec, and a child forked from this (large) test process starts from
# its parent's peak: wait4 on a direct child would report at least pytest's own peak. So the measured command
# is forked from a small launcher, whose wait4 sees the command's own peak only (as benchmarks/bench_snapshot.py).
_LAUNCHER = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as fh:
    fh.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_with_peak_rss(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300):
    """Run `poolscope <args>`; returns (CompletedProcess, peak RSS of the CLI process in MiB)."""
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = Path(tmp) / "maxrss"
        proc = subprocess.run([sys.executable, "-c", _LAUNCHER, str(rss_file), sys.executable, "-m", "pipeline.cli",
                               *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        return proc, int(rss_file.read_text()) / 1024  # ru_maxrss is KiB on Linux
