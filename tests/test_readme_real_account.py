"""README's "Point it at your Huawei Cloud account", run as written: the first-real-run commands (`poolscope
init`, the edit it describes, the credentials, `poolscope snapshot`) and the `fetches` query, in a fresh folder,
against the simulator standing in for the account. The one step README cannot show is the simulator's address:
the test adds it as the target's `endpoint` (an optional key the template documents)."""

import os
import re
import subprocess
import sys
from pathlib import Path

from clikit import cli_env
from pipeline.config import PLACEHOLDERS
from pipeline.simulator import Faults, SimulatorConfig, run_simulator

README = Path(__file__).resolve().parents[1] / "README.md"
BIN = Path(sys.executable).parent
AK, SK = "AKREADMEREALRUN00001", "readme-real-run-sk-0123456789abcdefghij"


def section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Point it at your Huawei Cloud account")
    return text[start:text.index("\n## ", start + 1)]


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", section(), re.S)


def test_the_section_follows_configuration_and_precedes_cli():
    text = README.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, re.M)
    at = headings.index("Point it at your Huawei Cloud account")
    assert headings[at - 1] == "Configuration" and headings[at + 1] == "CLI"


def test_the_first_real_run_works_as_written(tmp_path):
    (steps,) = blocks("sh")
    lines = [line.split("  #")[0].strip() for line in steps.strip().splitlines()]
    commands = [line for line in lines if line.startswith("poolscope ")]
    assert commands == ["poolscope init", "poolscope snapshot --config poolscope.yaml"]
    edit = next(line for line in steps.splitlines() if "EDITOR" in line)
    assert all(p in edit for p in PLACEHOLDERS)  # the edit README asks for is the one done below
    assert any(line.startswith("export HUAWEICLOUD_SDK_AK=") for line in lines)
    assert any("HUAWEICLOUD_SDK_SK" in line and line.startswith("read -rs") for line in lines)
    (query,) = blocks("python")

    faults = Faults(forbidden_projects=1)  # one project without the permission: the partial case README explains
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=3, seed=12, ak=AK, sk=SK, faults=faults)) as sim:
        env = cli_env(AK, SK)
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # `poolscope` as the user's shell finds it
        init = subprocess.run(commands[0], shell=True, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=60)
        assert init.returncode == 0, init.stderr
        config = tmp_path / "poolscope.yaml"
        readable, forbidden = sim.projects
        text = config.read_text(encoding="utf-8")
        text = text.replace("<REGION>", readable.region).replace("<PROJECT_ID>", readable.id)
        text = text.replace("    # endpoint: https://modelarts.cn-north-4.myhuaweicloud.com",
                            f"    endpoint: {sim.url}", 1)
        text += (f"  - region: {forbidden.region}\n    project_id: \"{forbidden.id}\"\n    endpoint: {sim.url}\n")
        config.write_text(text, encoding="utf-8")

        snap = subprocess.run(commands[1] + " --no-progress", shell=True, cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
    assert snap.returncode == 3, (snap.stdout, snap.stderr)  # partial, as README's exit codes say
    assert "APIGW.0302 x1" in snap.stdout and "Traceback" not in snap.stderr

    shown = subprocess.run([sys.executable, "-c", query], cwd=tmp_path, env=cli_env(), capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "APIGW.0302" in shown.stdout and forbidden.id in shown.stdout and readable.id not in shown.stdout
    assert SK not in snap.stdout + snap.stderr + shown.stdout


def test_the_error_table_names_the_codes_poolscope_reports():
    text = section()
    for code in ("APIGW.0301", "APIGW.0302", "APIGW.0303", "APIGW.0308", "ModelArts.50015001", "connect_error",
                 "Name or service not known", "tls_error", "timeout", "http_503"):
        assert code in text, code
