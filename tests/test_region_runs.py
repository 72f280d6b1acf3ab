"""Region partitions as a deployment runs them: the Dagster daemon (scheduler, run queue, sensors) on a PostgreSQL
instance, the lake in a bucket (SeaweedFS), runs launched as processes of their own. The schedule (here every
minute) launches a run per region at one snapshot time; the run queue lets one run per ModelArts endpoint go at a
time (runs of the same endpoint never overlap), while a compaction keeps committing to the same day; once every
region has committed, the sensor runs the history, reports and catalog once. The snapshot then shows whole, with
exactly the rows its regions' commits recorded, none lost and none twice."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from assets.test_region_partitions import partitioned
from clikit import REPO, cli_env
from lakekit import query_catalog
from pgkit import PgServer, pg_server  # noqa: F401 -- the fixture
from pipeline.assets.schedules import ENDPOINT_TAG
from pipeline.config import load_config
from pipeline.lake.store import read_manifests
from pipeline.simulator import Faults, SimulatorConfig, run_simulator
from s3kit import aws_env, put_lake_in_bucket, seaweed

AK, SK = "AKREGIONRUNS00000001", "region-runs-sk-0123456789abcdefghijklmn"
BIN = Path(sys.executable).parent
TIMEOUT_S = 420


def instance_yaml(home: Path, pg: PgServer) -> None:
    """The run queue of deploy/dagster.yaml (one run per endpoint tag) on PostgreSQL, runs as local processes."""
    deploy = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    settings = {
        "storage": pg.dagster_yaml_storage(),
        "run_coordinator": deploy["run_coordinator"],
        "concurrency": deploy["concurrency"],
        "telemetry": {"enabled": False},
    }
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))


def dagster(args: list[str], env: dict, cwd: Path) -> None:
    done = subprocess.run([str(BIN / "dagster"), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr


def stop(proc: subprocess.Popen, home: Path) -> None:
    """Stop the daemon's process group, then whatever it started that outlived it: its code server and run
    workers name the instance's folder on their command line."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(home).encode() in cmdline.read_bytes():
                os.kill(int(cmdline.parent.name), signal.SIGKILL)
        except (OSError, ValueError):
            pass


@pytest.mark.timeout(TIMEOUT_S + 120)
def test_the_daemon_runs_every_region_then_the_catalog_once(tmp_path, pg_server, monkeypatch):  # noqa: F811
    pg = pg_server
    with seaweed(tmp_path / "s3") as s3, run_simulator(SimulatorConfig(projects=3, pools_per_project=3, seed=8,
                                                                       ak=AK, sk=SK,
                                                                       faults=Faults(latency_ms=20))) as sim:
        config_path = partitioned(sim, tmp_path / "poolscope.yaml", split_hosts=True)
        put_lake_in_bucket(config_path, s3, "regions", work="./work")
        config_path.write_text(config_path.read_text().replace("schedule:\n", 'schedule:\n  cron: "* * * * *"\n'))
        # The compaction runs elsewhere (its own work folder, as in a pod of its own): only the bucket is shared.
        compactor = tmp_path / "compactor.yaml"
        compactor.write_text(config_path.read_text().replace("  work: ./work", "  work: ./compactor"))
        home = tmp_path / "dagster_home"
        instance_yaml(home, pg)
        workspace = tmp_path / "workspace.yaml"
        workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": {
            "module_name": "pipeline.definitions", "working_directory": str(REPO)}}]}))
        env = cli_env(AK, SK, **aws_env(s3), **pg.env(), DAGSTER_HOME=str(home), POOLSCOPE_CONFIG=str(config_path))
        for name, value in {**aws_env(s3), **pg.env(), "DAGSTER_HOME": str(home)}.items():
            monkeypatch.setenv(name, value)  # this process reads the instance and the lake too
        config = load_config(config_path)
        regions = config.regions()
        daemon_log = open(tmp_path / "daemon.log", "wb")
        daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], cwd=tmp_path, env=env,
                                  stdout=daemon_log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            dagster(["schedule", "start", "snapshot_schedule", "-w", str(workspace)], env, tmp_path)
            dagster(["sensor", "start", "snapshot_catalog_sensor", "-w", str(workspace)], env, tmp_path)
            compactions = []
            deadline = time.monotonic() + TIMEOUT_S
            with dg.DagsterInstance.get() as inst:
                catalog_runs = []
                while time.monotonic() < deadline:
                    runs = inst.get_runs(dg.RunsFilter(job_name="region_snapshot_job"))
                    if runs and any(r.status == dg.DagsterRunStatus.STARTED for r in runs):
                        # a compaction of the day the regions are committing to, from another process
                        compactions.append(subprocess.run(
                            [sys.executable, "-m", "pipeline.cli", "compact", "--config", str(compactor),
                             "--include-latest"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300))
                    catalog_runs = inst.get_runs(dg.RunsFilter(job_name="catalog_job",
                                                               statuses=[dg.DagsterRunStatus.SUCCESS]))
                    if catalog_runs:
                        break
                    failed = inst.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
                    assert not failed, [(r.job_name, r.tags.get("dagster/partition")) for r in failed]
                    time.sleep(1.0)
                assert catalog_runs, (tmp_path / "daemon.log").read_text(errors="replace")[-3000:]
                dagster(["schedule", "stop", "snapshot_schedule", "-w", str(workspace)], env, tmp_path)
                snapshot_id = catalog_runs[-1].tags["poolscope/snapshot_id"]
                at = read_manifests(config.layout())
                tick = [r for r in inst.get_runs(dg.RunsFilter(job_name="region_snapshot_job"))
                        if r.tags.get("poolscope/snapshot_at", "").replace("-", "").replace(":", "")[:15]
                        == snapshot_id[:15]]
                records = {r.dagster_run.run_id: r for r in inst.get_run_records(
                    dg.RunsFilter(run_ids=[r.run_id for r in tick]))}
        finally:
            stop(daemon, home)
            daemon_log.close()
        assert sorted(r.tags["dagster/partition"] for r in tick) == regions
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in tick), [(r.tags, r.status) for r in tick]
        # One run at a time per endpoint: the queue's tag limit (deploy/dagster.yaml)
        by_endpoint: dict[str, list[tuple[float, float]]] = {}
        for r in tick:
            rec = records[r.run_id]
            by_endpoint.setdefault(r.tags[ENDPOINT_TAG], []).append((rec.start_time, rec.end_time))
        assert len(by_endpoint) == 2
        for spans in by_endpoint.values():
            spans.sort()
            assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans
        assert compactions and all(c.returncode == 0 for c in compactions), compactions[-1:]
        # The snapshot, whole: every region's part, the rows its commits recorded, once.
        manifest = next(m for m in at if m.snapshot_id == snapshot_id)
        assert sorted(manifest.parts) == regions
        lake = config.layout().tables()
        assert "OPTIMIZE" in [h["operation"] for h in lake.open("pools").history()]
        db = config.root / "inventory.duckdb"
        for table in ("pools", "pool_capacity", "fetches", "pool_labels"):
            got = query_catalog(db, f"SELECT count(*) FROM {table} WHERE snapshot_id = '{snapshot_id}'")[0][0]
            assert got == manifest.tables[table]["rows"], table
        assert query_catalog(db, "SELECT count(*) - count(DISTINCT (snapshot_id, region, project_id, pool_id)) "
                                 "FROM pools") == [[0]]
        row = query_catalog(db, f"SELECT region, status, targets FROM snapshots WHERE snapshot_id = '{snapshot_id}'")
        assert row == [[None, "complete", len(config.targets)]]
        assert len([r for r in catalog_runs if r.tags["poolscope/snapshot_id"] == snapshot_id]) == 1
        print(json.dumps({"regions": len(regions), "compactions": len(compactions)}))
