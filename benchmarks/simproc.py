"""The simulator in a child process, for benchmarks that measure the client or the CLI.

In-process, the simulator's handler threads would share the GIL with the event loop being measured; on a
2-core machine that would charge the server's work to the client. The child is `poolscope simulator`, the
very command a user runs, with its `--config-out` file extended by the benchmark's `fetch:` settings.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# A pair only this benchmark's simulator accepts; the SK is passed by environment, never printed.
AK = "POOLSCOPEBENCHAK0001"
SK = "poolscope-bench-sk-0123456789abcdefghij"
STARTUP_TIMEOUT_S = 180.0


def poolscope_command() -> list[str]:
    script = Path(sys.executable).with_name("poolscope")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipeline.cli"]


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUAWEICLOUD_SDK_")}
    env.update(HUAWEICLOUD_SDK_AK=AK, HUAWEICLOUD_SDK_SK=SK)
    return env


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a live process (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class SimProcess:
    proc: subprocess.Popen
    url: str
    config: Path  # poolscope.yaml for every simulated project, with the benchmark's fetch settings
    project_ids: list[str] = field(default_factory=list)

    def cpu(self) -> float | None:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start(workdir: Path, *, projects: int, pools_per_project: int, latency_ms: float = 0.0,
          rate_limit: float = 0.0, fetch: dict | None = None, collect: dict | None = None,
          seed: int = 7, start: str | None = None) -> SimProcess:
    """Start `poolscope simulator` and wait until it serves; its config targets every project."""
    workdir.mkdir(parents=True, exist_ok=True)
    raw_config = workdir / "simulator.yaml"
    cmd = poolscope_command() + [
        "simulator", "--projects", str(projects), "--pools-per-project", str(pools_per_project),
        "--seed", str(seed), "--latency-ms", str(latency_ms), "--rate-limit", str(rate_limit),
        "--config-out", str(raw_config), "--storage-root", str(workdir / "data"),
    ] + (["--start", start] if start else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cli_env())
    url = None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    try:
        # Reading every line also drains the pipe: a thousand project lines would overfill it otherwise.
        for line in proc.stdout:
            if line.startswith("ModelArts + IAM simulator listening on "):
                url = line.rsplit(" ", 1)[1].strip()
            if line.startswith("Ctrl-C to stop"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start in time")
        if url is None or proc.poll() is not None:
            raise RuntimeError(f"the simulator did not start (exit {proc.poll()})")
        doc = yaml.safe_load(raw_config.read_text(encoding="utf-8"))
        if fetch:
            doc["fetch"] = dict(fetch)
        if collect is not None:
            doc["collect"] = dict(collect)
        config = workdir / "poolscope.yaml"
        config.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return SimProcess(proc, url, config, [t["project_id"] for t in doc["targets"]])
    except BaseException:
        proc.kill()
        proc.wait()
        raise
