"""Concurrent use of one storage root: writers queue or refuse clearly, a reader in another process holding the
catalog open through snapshots and a compaction never sees a lock error or a changing answer, and re-running a
snapshot id gives the same rows, not more. (Refusal without --wait: tests/test_cli.py; in-process lock:
tests/lake/test_store.py.)"""

import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from lakekit import query_catalog
from pipeline.config import load_config
from pipeline.modelarts import AkSkCredentials
from pipeline.simulator import Faults, SimulatorConfig, run_simulator
from pipeline.flow import run_snapshot
from test_cli import POOLSCOPE, cli_env, AK, SK

START = datetime(2026, 11, 1, 20, tzinfo=timezone.utc)
VIEWS = ("snapshots", "fetches", "pools", "pool_labels", "pool_annotations", "pool_capacity", "pool_resources")

# Holds one read-only connection open; on each line of stdin answers the same questions on it, as JSON.
READER = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
def answer():
    try:
        return {"snapshots": con.execute("SELECT list(snapshot_id ORDER BY snapshot_id) FROM snapshots").fetchall()[0][0],
                "pools": con.execute("SELECT count(*), count(DISTINCT (snapshot_id, pool_id)), "
                                     "hash(string_agg(pool_id || display_name, ',' ORDER BY snapshot_id, pool_id)) "
                                     "FROM pools").fetchall()[0],
                "capacity": con.execute("SELECT count(*), sum(count) FROM pool_capacity").fetchall()[0]}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
print(json.dumps(answer(), default=str), flush=True)
for _ in sys.stdin:
    print(json.dumps(answer(), default=str), flush=True)
"""


@pytest.fixture
def storage():
    """How a test's config keeps its lake: here the local disk; tests/test_concurrency_bucket.py runs these tests
    again with the lake in a bucket (the work folder where the local lake is)."""
    def local(config: Path) -> Path:
        return config
    return local


def test_two_snapshots_started_at_once_with_wait_both_commit_whole(tmp_path, storage):
    faults = Faults(latency_ms=250)  # the first run takes over a second: the second gets its own snapshot id
    with run_simulator(SimulatorConfig(projects=3, pools_per_project=2, seed=5, ak=AK, sk=SK, faults=faults)) as sim:
        storage(sim.write_config(tmp_path / "poolscope.yaml"))
        expected = sum(len(sim.fleet.pools(p.id)) for p in sim.projects)
        procs = [subprocess.Popen([*POOLSCOPE, "snapshot", "--config", "poolscope.yaml", "--wait", "60"],
                                  cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
        results = [(p.wait(120), *p.communicate()) for p in procs]
    assert [r[0] for r in results] == [0, 0], results
    db = tmp_path / "data" / "inventory.duckdb"
    rows = query_catalog(db, "SELECT snapshot_id, status, pools FROM snapshots ORDER BY 1")
    assert len(rows) == 2 and all(r[1:] == ["complete", expected] for r in rows), rows
    assert query_catalog(db, "SELECT count(*), count(DISTINCT (snapshot_id, pool_id)) FROM pools") == [
        [2 * expected, 2 * expected]]
    assert not list((tmp_path / "data" / "lake" / "_tmp").iterdir())


def test_a_reader_holding_the_catalog_sees_one_state_through_snapshots_and_compaction(tmp_path, storage):
    with run_simulator(SimulatorConfig(projects=3, pools_per_project=3, seed=11, ak=AK, sk=SK, start=START)) as sim:
        config_path = storage(sim.write_config(tmp_path / "poolscope.yaml"))
        config, creds = load_config(config_path), AkSkCredentials(AK, SK)

        def snap():
            run_snapshot(config, credentials=creds, snapshot_at=sim.fleet.now)
            sim.advance(hours=1)

        snap()
        snap()
        db = tmp_path / "data" / "inventory.duckdb"
        reader = subprocess.Popen([sys.executable, "-c", READER, str(db)], cwd="/", stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = json.loads(reader.stdout.readline())
            assert "error" not in first and len(first["snapshots"]) == 2, first
            answers = []
            for _ in range(4):  # 22:00 and 23:00 on day one, 00:00 and 01:00 on day two
                snap()
                reader.stdin.write("again\n")
                reader.stdin.flush()
                answers.append(json.loads(reader.stdout.readline()))
            compact = subprocess.run([*POOLSCOPE, "compact", "--config", str(config_path)], env=cli_env(),
                                     capture_output=True, text=True, timeout=120)
            assert compact.returncode == 0 and compact.stdout.startswith("compacted 1 day(s)"), compact
            reader.stdin.write("again\n")
            reader.stdin.flush()
            answers.append(json.loads(reader.stdout.readline()))
        finally:
            reader.stdin.close()
            reader.wait(20)
        assert reader.returncode == 0, reader.stderr.read()
        assert answers == [first] * 5  # no lock error, no half state: the view it opened, unchanged
        now = query_catalog(db, "SELECT count(*) FROM snapshots")  # a new reader sees everything
        assert now == [[6]]
        # The compacted day answers as before: day one's pools are the same rows.
        day_one = query_catalog(db, "SELECT count(*), count(DISTINCT (snapshot_id, pool_id)) FROM pools "
                                    "WHERE snapshot_id < '20261102'")
        assert day_one[0][0] == day_one[0][1] > 0


def _all_rows(db, snapshot_id: str) -> dict:
    out = {}
    for view in VIEWS:
        cols = [r[0] for r in query_catalog(db, f"SELECT column_name FROM (DESCRIBE {view})")]
        # what differs between two runs by nature: timings, request ids, the order calls finished in
        keep = [c for c in cols if c not in ("raw_file", "duration_ms", "started_at", "finished_at", "request_id",
                                             "call_id", "response_id")]
        out[view] = query_catalog(db, f"SELECT {', '.join(keep)} FROM {view} WHERE snapshot_id = '{snapshot_id}' "
                                      f"ORDER BY ALL")
    return out


def test_rerunning_a_snapshot_id_gives_the_same_rows_not_more(tmp_path, storage):
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=3, seed=21, ak=AK, sk=SK, start=START)) as sim:
        config = load_config(storage(sim.write_config(tmp_path / "poolscope.yaml")))
        creds = AkSkCredentials(AK, SK)
        at = sim.fleet.now
        sid = run_snapshot(config, credentials=creds, snapshot_at=at).snapshot_id
        db = config.root / "inventory.duckdb"
        before = _all_rows(db, sid)
        assert before["pools"] and before["pool_labels"]
        time.sleep(0.01)
        assert run_snapshot(config, credentials=creds, snapshot_at=at).snapshot_id == sid
        assert _all_rows(db, sid) == before
        assert query_catalog(db, "SELECT count(*) FROM snapshots") == [[1]]
        assert query_catalog(db, "SELECT count(*) - count(DISTINCT pool_id) FROM pools") == [[0]]
