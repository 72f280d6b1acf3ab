"""`poolscope simulator`: flags, credentials from the environment, config file, clean stop on SIGTERM."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from simkit import Resp, call

from pipeline.cli import main
from pipeline.simulator import DEMO_AK, DEMO_SK

ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_the_flags(capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulator", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--port", "--projects", "--pools-per-project", "--seed", "--latency-ms", "--rate-limit",
                 "--fault-rate", "--config-out"):
        assert flag in out


class _Remote:
    """Just enough of a Simulator for simkit.call: a URL and the credential."""

    def __init__(self, url: str, ak: str, sk: str):
        self.url, self.ak, self.sk = url, ak, sk


def _start(tmp_path: Path, env_extra: dict, *flags: str) -> tuple[subprocess.Popen, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUAWEICLOUD_SDK_")}
    env.update(env_extra)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "simulator", "--port", "0", *flags],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("Ctrl-C to stop"):
            break
    else:
        proc.wait(timeout=10)
        pytest.fail("simulator did not start:\n" + "\n".join(lines))
    return proc, lines


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    return rest


def test_env_credentials_are_used_and_never_printed(tmp_path):
    secret = "user-provided-sk-0123456789abcdefghijklmn"
    config = tmp_path / "poolscope.yaml"
    proc, lines = _start(tmp_path, {"HUAWEICLOUD_SDK_AK": "USERAK00000000000000", "HUAWEICLOUD_SDK_SK": secret},
                         "--projects", "2", "--pools-per-project", "2", "--seed", "3", "--forbidden-projects", "1",
                         "--config-out", str(config))
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+", lines[0]).group(0)
        remote = _Remote(url, "USERAK00000000000000", secret)
        targets = yaml.safe_load(config.read_text())["targets"]
        assert [t["endpoint"] for t in targets] == [url, url]
        resp: Resp = call(remote, "GET", f"/v2/{targets[0]['project_id']}/pools")
        assert resp.status == 200 and len(resp.json()["items"]) == 2
        assert call(remote, "GET", f"/v2/{targets[1]['project_id']}/pools").status == 403
        assert call(_Remote(url, DEMO_AK, DEMO_SK), "GET", f"/v2/{targets[0]['project_id']}/pools").status == 401
    finally:
        rest = _stop(proc)
    output = "\n".join(lines) + rest
    assert secret not in output and secret not in config.read_text()
    assert "USERAK00000000000000" not in output and "accepting AK USER…" in output  # masked, like every log
    assert "simulator stopped" in rest


def test_demo_credentials_are_printed(tmp_path):
    proc, lines = _start(tmp_path, {}, "--projects", "1", "--pools-per-project", "1")
    _stop(proc)
    assert any(DEMO_AK in line and DEMO_SK in line for line in lines)


def test_start_sets_the_fleets_clock(tmp_path):
    """--start now: the fleet's clock is this hour, so a snapshot dated now asks for points the fleet has;
    an ISO time is taken as given; the default stays the reproducible 2026-11-01."""
    from datetime import datetime, timezone

    def clock(*flags: str) -> str:
        proc, lines = _start(tmp_path, {}, *flags)
        try:
            url = next(line.rsplit(" ", 1)[1] for line in lines if " listening on " in line)
            return call(_Remote(url, DEMO_AK, DEMO_SK), "GET", "/_simulator/state", sign=False).json()["now"]
        finally:
            _stop(proc)

    before = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    now = datetime.fromisoformat(clock("--start", "now"))
    after = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    assert now in (before, after)
    assert clock("--start", "2026-06-01T10:00:00Z") == "2026-06-01T10:00:00+00:00"
    assert clock() == "2026-11-01T00:00:00+00:00"
    bad = subprocess.run([sys.executable, "-m", "pipeline.cli", "simulator", "--start", "yesterday"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "--start takes an ISO 8601 time or 'now'" in bad.stderr
