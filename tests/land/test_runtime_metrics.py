"""ShowPoolRuntimeMetrics in a snapshot: one call per project whose pools were read, landed and normalized."""

import yaml

from lakekit import query_catalog
from pipeline.config import load_config
from pipeline.flow import run_snapshot
from pipeline.lake.layout import Layout
from pipeline.modelarts import AkSkCredentials
from pipeline.simulator import Faults, SimulatorConfig, run_simulator
from pipeline.simulator.runtime import runtime_metrics

AK, SK = "AKRUNTIMELAND0000001", "runtime-land-sk-0123456789abcdefghijklmn"


def _snapshot(tmp_path, *, collect=True, break_one=False):
    faults = Faults(forbidden_projects=1)
    with run_simulator(SimulatorConfig(projects=4, pools_per_project=3, seed=5, ak=AK, sk=SK, faults=faults)) as sim:
        path = sim.write_config(tmp_path / "poolscope.yaml", storage_root="./data")
        data = yaml.safe_load(path.read_text())
        data["collect"] = {"runtime_metrics": collect}
        data["fetch"] = {"max_attempts": 2}
        path.write_text(yaml.safe_dump(data))
        if break_one:  # every attempt of one project's runtime call answers 503
            sim.inject("error", count=10, project_id=sim.projects[0].id, path_contains="/metrics/runtime", status=503)
        result = run_snapshot(load_config(path), credentials=AkSkCredentials(AK, SK), snapshot_at=sim.fleet.now)
        served = {p.id: runtime_metrics(sim.fleet.seed, sim.fleet.pool_states(p.id), sim.fleet.now)
                  for p in sim.projects if not p.forbidden}
    return result, served, Layout(tmp_path / "data").catalog


def test_one_call_per_readable_project_and_its_rows(tmp_path):
    result, served, db = _snapshot(tmp_path)
    assert result.status == "partial"  # the forbidden project; it gets no runtime call
    calls = query_catalog(db, "SELECT project_id, outcome FROM fetches WHERE call = 'runtime_metrics' ORDER BY 1")
    assert calls == [[pid, "ok"] for pid in sorted(served)]
    # every pool and resource key the simulator served, and each workload type but the sum
    want = sorted([pid, item["metadata"]["name"], key] for pid, answer in served.items()
                  for item in answer["items"] for key in item["table"]["capacity"]["value"])
    got = query_catalog(db, "SELECT project_id, pool_id, resource FROM pool_allocation ORDER BY 1, 2, 3")
    assert got == want
    queued = sum(item["table"]["workload"]["queue"]["sum"] for a in served.values() for item in a["items"])
    assert query_catalog(db, "SELECT coalesce(sum(queued), 0) FROM pool_workload_counts") == [[queued]]


def test_switched_off_makes_no_call(tmp_path):
    _, _, db = _snapshot(tmp_path, collect=False)
    assert query_catalog(db, "SELECT count(*) FROM fetches WHERE call = 'runtime_metrics'") == [[0]]
    assert query_catalog(db, "SELECT count(*) FROM pool_allocation") == [[0]]


def test_a_failed_runtime_call_costs_its_rows_only_and_is_counted(tmp_path):
    result, served, db = _snapshot(tmp_path, break_one=True)
    assert result.status == "partial" and result.targets_failed == 1     # the forbidden project, as before
    assert query_catalog(db, "SELECT runtime_calls_failed, targets_ok FROM snapshots") == [[1, len(served)]]
    (broken,) = [pid for (pid,) in query_catalog(
        db, "SELECT project_id FROM fetches WHERE call = 'runtime_metrics' AND outcome = 'error'")]
    got = {pid for (pid,) in query_catalog(db, "SELECT DISTINCT project_id FROM pool_allocation")}
    assert got == set(served) - {broken} and broken in served
