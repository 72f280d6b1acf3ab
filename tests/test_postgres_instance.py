"""The Dagster instance on PostgreSQL, as a deployment runs it: DAGSTER_HOME's dagster.yaml puts run, event log
and schedule storage in a real PostgreSQL server (tests/pgkit.py; password by environment variable), with the
same concurrency pools as the dagster.yaml poolscope writes itself (pipeline/runner.py).

Why: the CLI's default instance is SQLite under the storage root; a deployment shares one PostgreSQL-backed
instance between storage roots and hosts, which needs dagster-postgres (and its driver) in the wheel's
environment, and runs of several processes taking turns at the API's pool through PostgreSQL.

Checks: a real `poolscope snapshot` against the simulator succeeds, its run and materializations are read back
from PostgreSQL (through Dagster and by plain SQL), nothing of the instance is written as SQLite, and the
password is in no file or output; two `poolscope snapshot`s started at once on two storage roots, sharing that
instance (and, on a new database, racing to create its schema), both succeed, tagged with their own roots,
their landings one at a time in the API's pool, and no slot left claimed. Two processes creating a new pool
at once: on PostgreSQL, Dagster's own creation fails the loser's run (dagster-io/dagster#33552; seen here in
about one start in six under load); pipeline/runner.py's ensure_pool creates the pool before the run instead,
and that race is replayed step by step, with Dagster's failing call kept in view so that its fix is noticed.
"""

import json
import subprocess
import threading
import time
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import sqlalchemy.exc
import yaml

from clikit import POOLSCOPE, cli_env
from lakekit import query_catalog
from pgkit import PgServer, pg_server  # noqa: F401 -- the fixture
from pipeline.config import load_config
from pipeline.definitions import api_pool
from pipeline.runner import INSTANCE_YAML, STORAGE_ROOT, ensure_pool
from pipeline.simulator import Faults, SimulatorConfig, run_simulator

AK, SK = "AKPGINSTANCE00000001", "pg-instance-sk-0123456789abcdefghijklmn"
SQLITE_MAGIC = b"SQLite format 3\x00"


def write_home(home: Path, pg: PgServer) -> Path:
    """A deployment's DAGSTER_HOME: poolscope's own settings (telemetry, the concurrency pools) with every
    storage in PostgreSQL instead of the SQLite files under <home>/history."""
    ours = yaml.safe_load(INSTANCE_YAML.format(events=json.dumps(str(home / "history"))))
    settings = {key: ours[key] for key in ("telemetry", "nux", "concurrency")}
    settings["storage"] = pg.dagster_yaml_storage()
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return home


def start_snapshot(folder: Path, home: Path, pg: PgServer) -> subprocess.Popen:
    return subprocess.Popen([*POOLSCOPE, "snapshot", "--config", "poolscope.yaml", "--no-progress"], cwd=folder,
                            env=cli_env(AK, SK, DAGSTER_HOME=str(home), **pg.env()), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def sqlite_files(folder: Path) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                if fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC or path.suffix in (".db", ".sqlite", ".sqlite3"):
                    found.append(path)
    return found


def plain_sql(pg: PgServer, sql: str, *params) -> list[tuple]:
    con = psycopg2.connect(**pg.connect_kwargs())
    try:
        with con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        con.close()


def test_a_cli_snapshot_is_recorded_in_postgres_and_nothing_in_sqlite(tmp_path, pg_server, monkeypatch):
    home = write_home(tmp_path / "dagster-home", pg_server)
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=2, seed=3, ak=AK, sk=SK)) as sim:
        config = load_config(sim.write_config(tmp_path / "site" / "poolscope.yaml", storage_root="data"))
        code, out, err = finish(start_snapshot(tmp_path / "site", home, pg_server))
    assert code == 0, (out, err)
    assert "complete" in out
    for key, value in pg_server.env().items():
        monkeypatch.setenv(key, value)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        runs = instance.get_runs()
        assert [(r.job_name, r.status) for r in runs] == [("snapshot_job", dg.DagsterRunStatus.SUCCESS)]
        assert runs[0].tags[STORAGE_ROOT] == str(config.root.resolve())
        for asset in ("raw_snapshot", "pool_changes", "inventory_catalog"):
            records = instance.fetch_materializations(dg.AssetKey(asset), limit=10).records
            assert [r.run_id for r in records] == [runs[0].run_id], asset
        # The concurrency block of poolscope's dagster.yaml took effect: the API's pool has one slot, now free.
        info = instance.event_log_storage.get_concurrency_info(api_pool(config))
        assert info.limit == 1 and info.claimed_slots == [] and info.pending_steps == []
    # The same run, by plain SQL on the server: it is PostgreSQL's, not a copy somewhere else.
    assert plain_sql(pg_server, "SELECT run_id, status FROM runs") == [(runs[0].run_id, "SUCCESS")]
    assert plain_sql(pg_server, "SELECT count(*) FROM event_logs WHERE run_id = %s", runs[0].run_id)[0][0] > 0
    # Nothing of the instance as SQLite: not in DAGSTER_HOME, and no default instance under the storage root.
    assert sqlite_files(home) == []
    assert not (config.root / "dagster").exists()
    # The password came from the environment only.
    assert pg_server.password not in (home / "dagster.yaml").read_text()
    assert pg_server.password not in out + err


def test_two_snapshots_at_once_on_two_storage_roots_share_the_postgres_instance(tmp_path, pg_server, monkeypatch):
    home = write_home(tmp_path / "dagster-home", pg_server)
    # Each landing call waits a while, so that the two runs' landings would overlap without the pool.
    faults = Faults(latency_ms=150)
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=2, seed=4, ak=AK, sk=SK, faults=faults)) as sim:
        configs = {name: load_config(sim.write_config(tmp_path / name / "poolscope.yaml", storage_root="data"))
                   for name in ("east", "west")}
        procs = {name: start_snapshot(tmp_path / name, home, pg_server) for name in configs}
        results = {name: finish(proc) for name, proc in procs.items()}
    assert [r[0] for r in results.values()] == [0, 0], results
    for name, config in configs.items():
        rows = query_catalog(config.root / "inventory.duckdb", "SELECT status, pools FROM snapshots")
        assert rows == [["complete", 4]], (name, rows)
    for key, value in pg_server.env().items():
        monkeypatch.setenv(key, value)
    pool = api_pool(configs["east"])
    assert pool == api_pool(configs["west"])  # one simulator: one API, one pool
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert sorted(r.tags[STORAGE_ROOT] for r in runs) == sorted(str(c.root.resolve()) for c in configs.values())
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        # The landings took turns: in the instance's one event sequence (PostgreSQL's, shared by both processes),
        # one run's landing step ended before the other's began.
        spans = []
        for run in runs:
            steps = [(r.storage_id, r.event_log_entry.dagster_event.event_type)
                     for r in instance.get_records_for_run(run.run_id, limit=10_000).records
                     if r.event_log_entry.is_dagster_event and r.event_log_entry.dagster_event.step_key == "raw_snapshot"
                     and r.event_log_entry.dagster_event.event_type in (dg.DagsterEventType.STEP_START,
                                                                        dg.DagsterEventType.STEP_SUCCESS)]
            assert [kind for _, kind in steps] == [dg.DagsterEventType.STEP_START,
                                                   dg.DagsterEventType.STEP_SUCCESS], run.run_id
            spans.append((steps[0][0], steps[1][0]))
        first, second = sorted(spans)
        assert first[1] <= second[0], spans
        info = instance.event_log_storage.get_concurrency_info(pool)
        assert info.claimed_slots == [] and info.pending_steps == []
    assert sqlite_files(home) == []


def test_the_loser_of_the_race_to_create_a_pool_takes_the_winners_pool(tmp_path, pg_server, monkeypatch):
    """The race of two processes creating one new pool, in order: the winner's INSERT is in an open transaction,
    the loser's (ensure_pool) waits on it, the winner commits; the loser must end with the winner's pool."""
    home = write_home(tmp_path / "dagster-home", pg_server)
    for key, value in pg_server.env().items():
        monkeypatch.setenv(key, value)
    pool = "modelarts_api/race.example"
    with dg.DagsterInstance.from_config(str(home)) as instance:  # creates the schema
        storage = instance.event_log_storage
        winner = psycopg2.connect(**pg_server.connect_kwargs())
        try:
            with winner.cursor() as cur:  # what Dagster's pool creation writes, in one transaction
                cur.execute('INSERT INTO concurrency_limits (concurrency_key, "limit", using_default_limit) '
                            "VALUES (%s, 1, true)", (pool,))
                cur.execute("INSERT INTO concurrency_slots (concurrency_key, deleted) VALUES (%s, false)", (pool,))
            failures = []

            def lose():
                try:
                    ensure_pool(instance, pool)
                except Exception as exc:
                    failures.append(exc)

            loser = threading.Thread(target=lose)
            loser.start()
            deadline = time.monotonic() + 60
            while not plain_sql(pg_server, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                           "AND query LIKE 'INSERT INTO concurrency_limits%%'")[0][0]:
                assert loser.is_alive() and time.monotonic() < deadline, ("the loser never waited", failures)
                time.sleep(0.02)
            winner.commit()
        finally:
            winner.close()
        loser.join(60)
        assert failures == []
        info = storage.get_concurrency_info(pool)
        assert (info.limit, info.slot_count, info.claimed_slots) == (1, 1, [])
        # Dagster's own call on an existing pool still fails on PostgreSQL (what the run did when it lost the race);
        # when this no longer raises, dagster-io/dagster#33552 is fixed and ensure_pool can go.
        with pytest.raises(sqlalchemy.exc.InternalError, match="InFailedSqlTransaction"):
            storage.initialize_concurrency_limit_to_default(pool)
