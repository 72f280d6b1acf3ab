"""One pipeline (pipeline/flow.py): `poolscope snapshot` runs the Dagster snapshot job in process on the
persistent instance, and every derived table is in the catalog after every snapshot.

Before: after two `poolscope snapshot`s, `pool_changes` was stale and capacity_utilization, billing_modes and
subscriptions did not exist in inventory.duckdb; the runs left no trace in Dagster.
"""

import subprocess

import dagster as dg
import duckdb

from clikit import POOLSCOPE, cli_env
from lakekit import query_catalog
from pipeline.assets.snapshot import SNAPSHOT_AT_TAG
from pipeline.config import load_config
from pipeline.definitions import build_definitions
from pipeline.flow import run_snapshot
from pipeline.catalog.views import POOL_TABLES
from pipeline.modelarts import AkSkCredentials
from pipeline.simulator import SimulatorConfig, run_simulator

AK, SK = "AKONEPIPELINE0000001", "one-pipeline-sk-0123456789abcdefghijklm"


def snapshot(cwd) -> str:
    proc = subprocess.run([*POOLSCOPE, "snapshot", "--config", "poolscope.yaml", "--no-progress"], cwd=cwd,
                          env=cli_env(AK, SK), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return proc.stdout.split()[1].rstrip(":")


def test_two_cli_snapshots_leave_every_derived_table_in_the_catalog_and_the_runs_in_dagster(tmp_path):
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=3, seed=7, ak=AK, sk=SK)) as sim:
        sim.write_config(tmp_path / "poolscope.yaml", storage_root="data")
        project = sim.projects[0].id
        gone = sorted(d["metadata"]["name"] for d in sim.fleet.pools(project))[0]
        first = snapshot(tmp_path)
        sim.fleet.delete_pool(project, gone)
        second = snapshot(tmp_path)
    db = tmp_path / "data" / "inventory.duckdb"
    # No other command: the history, the reports of the snapshot's day, the current_* views are there.
    assert query_catalog(db, "SELECT snapshot_id, change_type FROM pool_changes WHERE pool_id = '" + gone
                         + "' ORDER BY 1") == [[first, "created"], [second, "deleted"]]
    day = query_catalog(db, f"SELECT snapshot_at::DATE FROM snapshots WHERE snapshot_id = '{second}'")[0][0]
    assert query_catalog(db, f"SELECT count(*) FROM capacity_utilization WHERE level = 'pool' AND day = '{day}'"
                         )[0][0] > 0
    assert query_catalog(db, f"SELECT count(*) FROM billing_modes WHERE day = '{day}'")[0][0] > 0
    assert query_catalog(db, "SELECT count(*) FROM subscriptions")[0][0] >= 0  # a view, even with no yearly pool
    current = {r[0] for r in query_catalog(db, "SELECT pool_id FROM current_pools")}
    latest = {r[0] for r in query_catalog(db, f"SELECT pool_id FROM pools WHERE snapshot_id = '{second}'")}
    assert current == latest and gone not in current
    for table in POOL_TABLES:
        assert query_catalog(db, f"SELECT count(*) FROM current_{table} WHERE snapshot_id <> '{second}'") == [[0]]
    # Both runs are in the persistent Dagster instance under the storage root, with their materializations.
    home = tmp_path / "data" / "dagster"
    assert "telemetry" in (home / "dagster.yaml").read_text()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert [r.job_name for r in runs] == ["snapshot_job", "snapshot_job"]
        assert all(r.is_success for r in runs)
        catalog = instance.fetch_materializations(dg.AssetKey("inventory_catalog"), limit=10).records
        assert len(catalog) == 2
        changes = instance.fetch_materializations(dg.AssetKey("pool_changes"), limit=10).records
        assert len(changes) == 2
        assert type(instance.event_log_storage).__name__ == "PooledSqliteEventLogStorage"
        assert type(instance.run_storage).__name__ == "PooledSqliteRunStorage"
    # The pooled connections were closed as the CLI exited: the last one checkpoints and removes the WAL file.
    assert not list((home / "history").glob("*-wal"))
    # The files are Dagster's own: its stock SQLite storages (a dagster.yaml without poolscope's) read them.
    stock = tmp_path / "stock"
    stock.mkdir()
    (stock / "dagster.yaml").write_text(
        "event_log_storage:\n  module: dagster._core.storage.event_log\n  class: ConsolidatedSqliteEventLogStorage\n"
        f"  config:\n    base_dir: {home / 'history'}\n"
        "run_storage:\n  module: dagster._core.storage.runs\n  class: SqliteRunStorage\n"
        f"  config:\n    base_dir: {home / 'history'}\n")
    with dg.DagsterInstance.from_config(str(stock)) as instance:
        assert [r.job_name for r in instance.get_runs()] == ["snapshot_job", "snapshot_job"]
        assert len(instance.fetch_materializations(dg.AssetKey("pool_changes"), limit=10).records) == 2


def _lake_rows(db) -> dict[str, list]:
    """Every catalog view's rows, without what differs between two runs of the same snapshot (timings,
    request ids, file paths, write ids, the simulator's port)."""
    volatile = {"started_at", "finished_at", "duration_ms", "request_id", "raw_file", "raw_dir", "committed_at",
                "attempt_ms", "write_id", "response_id", "kept_response_id", "body_file", "excerpt",
                "endpoint", "call_id",  # each simulator has its own port; calls run concurrently
                "endpoint_rates", "settled_rps"}  # the pace is measured on the wall clock (and names the port)
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for (view,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall():
            cols = [r[0] for r in con.execute(f'DESCRIBE "{view}"').fetchall() if r[0] not in volatile]
            rows = con.execute(f'SELECT {", ".join(chr(34) + c + chr(34) for c in cols)} FROM "{view}"').fetchall()
            out[view] = sorted(map(repr, rows))
        return out
    finally:
        con.close()


def test_the_cli_path_and_a_dagster_run_give_the_same_lake(tmp_path, monkeypatch):
    """The same two snapshots (same fleet, same times), once through `run_snapshot` (what the CLI and the demo
    call) and once as Dagster runs the job on its own (credentials from the environment, no caller in process):
    every table and view of the two catalogs is equal."""
    lakes = {}
    for way in ("cli", "dagster"):
        with run_simulator(SimulatorConfig(projects=2, pools_per_project=3, seed=9, ak=AK, sk=SK)) as sim:
            path = sim.write_config(tmp_path / way / "poolscope.yaml", storage_root="data")
            config = load_config(path)
            for hour in range(2):
                at = sim.fleet.now
                if way == "cli":
                    run_snapshot(config, credentials=AkSkCredentials(AK, SK), snapshot_at=at)
                else:
                    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", AK)
                    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", SK)
                    job = build_definitions(str(path), bind=True).resolve_job_def("snapshot_job")
                    with dg.DagsterInstance.ephemeral() as instance:
                        assert job.execute_in_process(instance=instance,
                                                      tags={SNAPSHOT_AT_TAG: at.isoformat()}).success
                    monkeypatch.delenv("HUAWEICLOUD_SDK_AK")
                    monkeypatch.delenv("HUAWEICLOUD_SDK_SK")
                sim.advance(hours=1)
        lakes[way] = _lake_rows(config.root / "inventory.duckdb")
    assert sorted(lakes["cli"]) == sorted(lakes["dagster"])
    assert lakes["cli"]["pools"] and lakes["cli"]["pool_changes"] and lakes["cli"]["capacity_utilization"]
    for view in lakes["cli"]:
        assert lakes["cli"][view] == lakes["dagster"][view], view


def test_a_killed_cli_run_is_closed_and_frees_the_api_pool_for_the_next_run(tmp_path):
    """kill -9 while landing: the run would show as started for ever and keep its slot of the API's concurrency
    pool (default limit 1), so the next landing would wait on it without end. The next CLI run closes it first."""
    import signal
    import time

    from pipeline.simulator import Faults

    faults = Faults(latency_ms=1000, seed=1)
    with run_simulator(SimulatorConfig(projects=3, pools_per_project=3, seed=7, ak=AK, sk=SK, faults=faults)) as sim:
        sim.write_config(tmp_path / "poolscope.yaml", storage_root="data")
        victim = subprocess.Popen([*POOLSCOPE, "snapshot", "--config", "poolscope.yaml", "--no-progress"],
                                  cwd=tmp_path, env=cli_env(AK, SK), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        home = tmp_path / "data" / "dagster"
        pool = "modelarts_api/" + sim.url.split("//")[1].rstrip("/")
        deadline = time.monotonic() + 120
        while True:  # until the landing holds the pool's slot (each call takes a second: it holds it a while)
            assert victim.poll() is None and time.monotonic() < deadline, "the victim never started landing"
            # Landing under way (so the instance is fully created: opening it while the victim creates it races
            # the victim's schema set-up), then the slot.
            tmp = tmp_path / "data" / "lake" / "_tmp"
            if tmp.is_dir() and any(tmp.glob("raw-*")):
                with dg.DagsterInstance.from_config(str(home)) as instance:
                    if len(instance.event_log_storage.get_concurrency_info(pool).claimed_slots) == 1:
                        break
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        survivor = snapshot(tmp_path)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()  # newest first
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]
        failure = instance.all_logs(runs[1].run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert "ended before it finished" in failure[0].message
        assert len(instance.event_log_storage.get_concurrency_info(pool).claimed_slots) == 0
    assert query_catalog(tmp_path / "data" / "inventory.duckdb", "SELECT snapshot_id FROM snapshots") == [[survivor]]
