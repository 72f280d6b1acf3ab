"""The CLI as a user runs it: a subprocess against the simulator over real HTTP, then the DuckDB file."""

import signal
import subprocess
import time

import pytest

import clikit
from clikit import POOLSCOPE
from lakekit import query_catalog
from pipeline.simulator import Faults, SimulatorConfig, run_simulator

AK, SK = "AKCLITEST00000000001", "cli-test-sk-0123456789abcdefghijklmnopq"


def cli_env(**extra) -> dict:
    return clikit.cli_env(AK, SK, **extra)


def run_cli(*args, cwd, env_extra=None, check_code=None, timeout=120):
    env = cli_env(**(env_extra or {}))
    proc = subprocess.run([*POOLSCOPE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check_code is not None:
        assert proc.returncode == check_code, (proc.returncode, proc.stdout, proc.stderr)
    return proc


query = query_catalog


def test_snapshot_complete_partial_and_renormalize(tmp_path):
    with run_simulator(SimulatorConfig(projects=3, pools_per_project=4, seed=8, ak=AK, sk=SK)) as sim:
        sim.write_config(tmp_path / "etc" / "poolscope.yaml", storage_root="../store")
        expected = sum(len(sim.fleet.pools(p.id)) for p in sim.projects)
        ok = run_cli("snapshot", "--config", "etc/poolscope.yaml", cwd=tmp_path, check_code=0)
        assert "complete" in ok.stdout and f"pools: {expected}" in ok.stdout
        # One project now refuses us: the next snapshot is partial (exit 3), and says why.
        sim.fleet.mark_forbidden({sim.projects[0].id})
        time.sleep(1.1)  # snapshot ids have one-second resolution
        partial = run_cli("snapshot", "--config", "etc/poolscope.yaml", cwd=tmp_path, check_code=3)
        assert "APIGW.0302 x1" in partial.stdout
    db = tmp_path / "store" / "inventory.duckdb"  # relative root resolved against the config's folder
    assert query(db, "SELECT status, targets_ok, targets_failed FROM snapshots ORDER BY snapshot_id") == [
        ["complete", 3, 0], ["partial", 2, 1]]
    first = query(db, "SELECT min(snapshot_id) FROM snapshots")[0][0]
    before = query(db, f"SELECT count(*), count(DISTINCT pool_id) FROM pools WHERE snapshot_id = '{first}'")
    assert before == [[expected, expected]]
    run_cli("renormalize", "--config", "etc/poolscope.yaml", "--all", cwd=tmp_path, check_code=0)
    run_cli("renormalize", "--config", "etc/poolscope.yaml", "--snapshot", first, cwd=tmp_path, check_code=0)
    # Rebuilt from raw, replaced not duplicated.
    assert query(db, f"SELECT count(*) FROM pools WHERE snapshot_id = '{first}'") == [[expected]]
    assert query(db, "SELECT count(*) FROM snapshots") == [[2]]
    bad = run_cli("renormalize", "--config", "etc/poolscope.yaml", "--snapshot", "20200101T000000Z",
                  cwd=tmp_path, check_code=2)
    assert "no committed snapshot 20200101T000000Z" in bad.stderr


def test_every_target_failing_exits_1(tmp_path):
    faults = Faults(forbidden_projects=2)
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=2, seed=2, ak=AK, sk=SK, faults=faults)) as sim:
        sim.write_config(tmp_path / "poolscope.yaml")
        proc = run_cli("snapshot", "--config", "poolscope.yaml", cwd=tmp_path, check_code=1)
    assert "failed" in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("storage: {root: d}\ntargets: [{region: cn-north-4, project_id: p1, bogus: 1}]", "targets[0].bogus: unknown key"),
        ("storage: {root: d}\ntargets: [{region: cn-north-4, project_id: p1}]\ncredentials: {sk: abcdefgh}",
         "credentials.sk: credentials must not be written"),
        ("storage: [", "line"),
    ],
)
def test_config_errors_exit_2_naming_file_and_key(tmp_path, text, needle):
    (tmp_path / "poolscope.yaml").write_text(text)
    proc = run_cli("snapshot", "--config", "poolscope.yaml", cwd=tmp_path, check_code=2)
    assert "poolscope.yaml" in proc.stderr and needle in proc.stderr
    assert "Traceback" not in proc.stderr and "abcdefgh" not in proc.stderr


def test_missing_config_and_missing_credentials_exit_2(tmp_path):
    proc = run_cli("snapshot", "--config", "nope.yaml", cwd=tmp_path, check_code=2)
    assert "nope.yaml: no such config file" in proc.stderr
    (tmp_path / "poolscope.yaml").write_text("storage: {root: d}\ntargets: [{region: cn-north-4, project_id: p1}]")
    proc = run_cli("snapshot", "--config", "poolscope.yaml", cwd=tmp_path, env_extra={"HUAWEICLOUD_SDK_SK": ""},
                   check_code=2)
    assert "HUAWEICLOUD_SDK_SK" in proc.stderr and "Traceback" not in proc.stderr


def test_kill_9_during_a_snapshot_leaves_previous_snapshots_intact(tmp_path):
    # Slow answers keep the second snapshot in flight long enough to kill it mid-fetch.
    faults = Faults(latency_ms=400)
    with run_simulator(SimulatorConfig(projects=6, pools_per_project=3, seed=4, ak=AK, sk=SK, faults=faults)) as sim:
        sim.write_config(tmp_path / "poolscope.yaml")
        run_cli("snapshot", "--config", "poolscope.yaml", cwd=tmp_path, check_code=0)
        db = tmp_path / "data" / "inventory.duckdb"
        before = query(db, "SELECT snapshot_id, pools FROM snapshots")
        env = cli_env()
        time.sleep(1.1)
        victim = subprocess.Popen([*POOLSCOPE, "snapshot", "--config", "poolscope.yaml"], cwd=tmp_path, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any((tmp_path / "data" / "lake" / "_tmp").glob("raw-*")):
            time.sleep(0.05)
        time.sleep(0.3)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        assert list((tmp_path / "data" / "lake" / "_tmp").glob("raw-*"))  # killed mid-run: debris left
        assert query(db, "SELECT snapshot_id, pools FROM snapshots") == before  # previous state intact
        time.sleep(1.1)
        run_cli("snapshot", "--config", "poolscope.yaml", cwd=tmp_path, check_code=0)
    assert len(query(db, "SELECT * FROM snapshots")) == 2
    assert not list((tmp_path / "data" / "lake" / "_tmp").iterdir())  # the next run cleaned the debris


def test_second_concurrent_snapshot_gets_a_clear_message(tmp_path):
    faults = Faults(latency_ms=300)
    with run_simulator(SimulatorConfig(projects=4, pools_per_project=2, seed=4, ak=AK, sk=SK, faults=faults)) as sim:
        sim.write_config(tmp_path / "poolscope.yaml")
        env = cli_env()
        first = subprocess.Popen([*POOLSCOPE, "snapshot", "--config", "poolscope.yaml"], cwd=tmp_path, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any((tmp_path / "data" / "lake" / "_tmp").glob("raw-*")):
            time.sleep(0.05)
        second = run_cli("snapshot", "--config", "poolscope.yaml", cwd=tmp_path, check_code=1)
        assert "is writing to" in second.stderr and "Traceback" not in second.stderr
        assert first.wait(60) == 0


def test_every_flag_of_every_command_has_help_text():
    """`--help` explains every option (before: demo's --projects, --pools-per-project and --seed had none)."""
    import argparse

    from pipeline.cli import build_parser

    missing = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                missing.append(" ".join([*path, *(action.option_strings or [action.dest])]))

    walk(build_parser(), ["poolscope"])
    assert missing == []
    help_text = subprocess.run([*POOLSCOPE, "snapshot", "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "exit codes:" in help_text  # the snapshot's outcomes, as its --help lists them
