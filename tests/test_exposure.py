"""Nothing listens beyond this machine: the simulator (in-process and `poolscope simulator`) and what `poolscope dev`
starts bind 127.0.0.1 only. Checked on the kernel's socket table (/proc/net/tcp, tcp6), not by reading code."""

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from pipeline import demo
from pipeline.cli import build_parser
from pipeline.simulator import DEMO_AK, SimulatorConfig, run_simulator
from test_cli import POOLSCOPE, cli_env

LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1 as /proc/net/tcp writes them

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of sockets in LISTEN state on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as fh:
            next(fh)
            for line in fh:
                fields = line.split()
                address, hex_port = fields[1].split(":")
                if int(hex_port, 16) == port and fields[3] == "0A":
                    found.add(address)
    return found


def assert_loopback_only(port: int) -> None:
    found = listening_addresses(port)
    assert found, f"nothing listens on port {port}"
    assert found <= LOOPBACK, f"port {port} listens on {found}, beyond loopback"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_in_process_simulator_listens_on_loopback_only():
    with run_simulator(SimulatorConfig(projects=1, pools_per_project=1)) as sim:
        port = int(sim.url.rsplit(":", 1)[1])
        assert sim.url.startswith("http://127.0.0.1:")
        assert_loopback_only(port)


def test_simulator_command_listens_on_loopback_only(tmp_path):
    proc = subprocess.Popen([*POOLSCOPE, "simulator", "--port", "0", "--projects", "1"], cwd=tmp_path,
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in first, (first, proc.stderr.read() if proc.poll() else "")
        assert_loopback_only(int(first.strip().rsplit(":", 1)[1]))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def test_dev_serves_the_simulator_and_dagster_on_loopback_only(tmp_path, monkeypatch):
    """`poolscope dev` with Dagster replaced by a stand-in that records how it was started: its host flag, and
    what is listening while it runs (the simulator dev starts)."""
    from dagster_dg_cli.cli.dev import dev_command as dg_dev

    import pipeline.runner  # noqa: F401  dagster runs `file` when first imported: before Popen is replaced

    out = tmp_path / "demo"
    out.mkdir()
    port = free_port()
    (out / "demo.json").write_text(json.dumps({"projects": 1, "pools_per_project": 1, "seed": 1, "port": port}))
    seen = {}

    class FakeDagster:
        def __init__(self, argv, env=None, **kwargs):
            seen["argv"], seen["env"] = list(argv), env
            seen["listening"] = listening_addresses(port)
            self.pid = os.getpid()

        def wait(self, timeout=None):
            return 0

    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", "AKUSERSREALKEY000001")  # a user's own keys never go to the simulator
    monkeypatch.setenv("HUAWEICLOUD_SDK_SECURITY_TOKEN", "user-token")
    monkeypatch.setattr(demo.subprocess, "Popen", FakeDagster)
    monkeypatch.setattr(demo.signal, "signal", lambda *a: None)  # leave pytest's SIGTERM handling alone
    args = build_parser().parse_args(["dev", "--out", str(out), "--port", "3999"])
    assert demo.dev_command(args) == 0

    assert seen["listening"] and seen["listening"] <= LOOPBACK, seen["listening"]
    argv = seen["argv"]
    assert Path(argv[0]).name == "dg" and argv[1] == "dev"  # `dagster dev` is superseded by `dg dev`
    # Which of dg dev's options is the host, from dg's own command definition.
    host_opts = next(p.opts for p in dg_dev.params if p.name == "host")
    hosts = [argv[i + 1] for i, a in enumerate(argv) if a in host_opts or a.split("=")[0] in host_opts]
    assert hosts == ["127.0.0.1"], argv
    port_opts = next(p.opts for p in dg_dev.params if p.name == "port")
    assert [argv[i + 1] for i, a in enumerate(argv) if a in port_opts] == ["3999"], argv
    assert seen["env"]["POOLSCOPE_CONFIG"] == str(out.resolve() / "poolscope.yaml")
    assert seen["env"]["HUAWEICLOUD_SDK_AK"] == DEMO_AK and "HUAWEICLOUD_SDK_SECURITY_TOKEN" not in seen["env"]
