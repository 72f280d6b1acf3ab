"""ListPoolNodes and ShowWorkloadStatistics in a snapshot: one call per pool the snapshot read (never another),
landed, and normalized into nodes, node_resources and workload_statistics that agree with the pools' counts
and with ShowPoolRuntimeMetrics at the same fleet time."""

import collections
import math

import yaml

from lakekit import query_catalog
from pipeline.config import load_config
from pipeline.flow import run_snapshot
from pipeline.lake.layout import Layout
from pipeline.modelarts import AkSkCredentials
from pipeline.simulator import Faults, SimulatorConfig, run_simulator
from pipeline.simulator.catalog import FLAVORS
from pipeline.simulator.runtime import runtime_key
from pipeline.simulator.workloads import statics_shape

AK, SK = "AKPOOLNODESLAND00001", "pool-nodes-land-sk-0123456789abcdefghijk"
PHASE = {"available": "Available", "abnormal": "Abnormal", "creating": "Creating", "deleting": "Deleting"}


def _snapshot(tmp_path, *, collect=None, targets=None, node_page_size=500, seed=5):
    """One snapshot of a 4-project fleet (the last project forbidden); returns the simulator's facts."""
    faults = Faults(forbidden_projects=1)
    config = SimulatorConfig(projects=4, pools_per_project=4, seed=seed, ak=AK, sk=SK, faults=faults,
                             node_page_size=node_page_size)
    with run_simulator(config) as sim:
        path = sim.write_config(tmp_path / "poolscope.yaml", storage_root="./data")
        data = yaml.safe_load(path.read_text())
        # both families of this file on (they are off by default), unless the test says otherwise
        data["collect"] = {"pool_nodes": True, "workload_statistics": True, **(collect or {})}
        if targets is not None:
            data["targets"] = targets(sim)
        path.write_text(yaml.safe_dump(data))
        result = run_snapshot(load_config(path), credentials=AkSkCredentials(AK, SK), snapshot_at=sim.fleet.now)
        readable = [p for p in sim.projects if not p.forbidden]
        facts = {
            "sim": sim,
            "pools": {(p.id, s.name): s for p in readable for s in sim.fleet.pool_states(p.id)},
            "nodes": {(p.id, s.name): sim.fleet.nodes(p.id, s.name) for p in readable
                      for s in sim.fleet.pool_states(p.id)},
            "asked": [(r.path, r.query) for r in sim.requests if r.path.endswith(("/nodes", "/workloads"))],
            "seed": sim.fleet.seed,
        }
    return result, facts, Layout(tmp_path / "data").catalog


def test_nodes_match_the_pools_and_their_allocation(tmp_path):
    result, facts, db = _snapshot(tmp_path)
    assert result.status == "partial"  # the forbidden project
    pools = facts["pools"]
    # one call per pool read of each family, each answered, and none for the forbidden project's pools
    calls = query_catalog(db, "SELECT call, project_id, pool_id, outcome FROM fetches "
                              "WHERE call IN ('pool_nodes', 'workload_statistics') ORDER BY ALL")
    assert calls == sorted([c, pid, name, "ok"] for c in ("pool_nodes", "workload_statistics")
                           for pid, name in pools)
    # nodes per pool, phase and AZ are the pool's own status counts per state and AZ (its pool_capacity_azs rows)
    got = query_catalog(db, "SELECT project_id, pool_id, phase, az, count(*) FROM nodes GROUP BY ALL ORDER BY ALL")
    want = query_catalog(db, "SELECT project_id, pool_id, state, az, sum(count) FROM pool_capacity_azs "
                             "WHERE count > 0 GROUP BY ALL ORDER BY ALL")
    assert got == sorted([pid, pool, PHASE[state], az, n] for pid, pool, state, az, n in want)
    assert len(got) > 10
    served = sum(len(n) for n in facts["nodes"].values())
    assert query_catalog(db, "SELECT count(*), count(DISTINCT (pool_id, node_name)) FROM nodes") == [[served, served]]
    # what the nodes hold adds up, per pool and key, to what ShowPoolRuntimeMetrics reported as allocated; the
    # accelerator keys differ between the two APIs and are matched through the flavor catalog
    to_runtime = {f.node_resource_key: runtime_key(f) for f in FLAVORS.values() if f.cards}
    held = collections.defaultdict(float)
    for pid, pool, resource, allocated in query_catalog(
            db, "SELECT project_id, pool_id, resource, sum(allocated) FROM node_resources GROUP BY ALL"):
        held[(pid, pool, to_runtime.get(resource, resource))] += allocated or 0.0
    runtime = {(pid, pool, resource): allocated for pid, pool, resource, allocated in query_catalog(
        db, "SELECT project_id, pool_id, resource, allocated FROM pool_allocation")}
    assert set(runtime) >= {k for k, v in held.items() if v}
    for key, allocated in runtime.items():
        assert math.isclose(held.get(key, 0.0), allocated, rel_tol=1e-9, abs_tol=1e-6), key
    assert sum(1 for k, v in runtime.items() if v and k[2] not in ("cpu", "memory")) > 0  # cards in use somewhere
    # available never exceeds capacity on a node; a node still creating has nothing known allocated
    assert query_catalog(db, "SELECT count(*) FROM node_resources WHERE available > capacity") == [[0]]
    assert query_catalog(db, "SELECT count(*) FROM node_resources r JOIN nodes n USING (snapshot_id, pool_id, "
                             "node_name) WHERE n.phase = 'Creating' AND r.allocated IS NOT NULL") == [[0]]
    assert query_catalog(db, "SELECT count(*) FROM nodes WHERE flavor IS NULL OR az IS NULL OR phase IS NULL") \
        == [[0]]


def test_workload_statistics_agree_with_the_runtime_counts(tmp_path):
    _, facts, db = _snapshot(tmp_path)
    pools = facts["pools"]
    # Running and Queue per pool and type are the runtime answer's running and queued workloads
    mismatched = query_catalog(db, """
        SELECT w.pool_id, w.type, w.status, w.count, c.running, c.queued
        FROM workload_statistics w
        LEFT JOIN pool_workload_counts c ON c.pool_id = w.pool_id AND c.workload_type = w.type
        WHERE (w.status = 'Running' AND w.count IS DISTINCT FROM c.running)
           OR (w.status = 'Queue' AND w.count IS DISTINCT FROM c.queued)""")
    assert mismatched == []
    roots = dict(query_catalog(db, "SELECT pool_id, any_value(root) FROM workload_statistics GROUP BY ALL"))
    assert roots == {name: "statics" if statics_shape(facts["seed"], name) else "statistics" for _, name in pools}
    assert set(roots.values()) == {"statics", "statistics"}  # both shapes read, the string counts included
    assert query_catalog(db, "SELECT count(DISTINCT status) FROM workload_statistics") == [[9]]


def test_collect_flags_off_make_no_calls(tmp_path):
    result, facts, db = _snapshot(tmp_path, collect={"pool_nodes": False, "workload_statistics": False})
    assert facts["asked"] == []
    assert query_catalog(db, "SELECT count(*) FROM fetches WHERE call IN ('pool_nodes', 'workload_statistics')") \
        == [[0]]
    for table in ("nodes", "node_resources", "workload_statistics"):
        assert query_catalog(db, f"SELECT count(*) FROM {table}") == [[0]]
    assert result.pools == len(facts["pools"])  # the pools themselves are read as before


def test_one_family_off_leaves_the_other(tmp_path):
    _, facts, db = _snapshot(tmp_path, collect={"pool_nodes": False})
    assert {path.rsplit("/", 1)[1] for path, _ in facts["asked"]} == {"workloads"}
    assert query_catalog(db, "SELECT count(DISTINCT pool_id) FROM workload_statistics") == [[len(facts["pools"])]]


def test_a_pool_not_read_is_never_asked(tmp_path):
    """Only the pools this snapshot read are asked about: a filtered listing's pools, a named pool, and no pool of
    a project whose listing failed."""
    chosen = {}

    def targets(sim):
        first, second = sim.projects[0], sim.projects[1]
        chosen["named"] = (first.id, sim.fleet.pool_states(first.id)[-1].name)
        chosen["filtered"] = second.id
        return [{"region": first.region, "project_id": first.id, "endpoint": sim.url,
                 "pools": [chosen["named"][1]]},
                {"region": second.region, "project_id": second.id, "endpoint": sim.url, "status": "created"},
                {"region": sim.projects[3].region, "project_id": sim.projects[3].id, "endpoint": sim.url}]

    _, facts, db = _snapshot(tmp_path, targets=targets)
    created = {name for (pid, name), s in facts["pools"].items() if pid == chosen["filtered"]
               and s.phase in ("Running", "Abnormal", "Error", "ScalingFailed")}
    want = {chosen["named"]} | {(chosen["filtered"], name) for name in created}
    asked = collections.Counter()
    for path, _ in facts["asked"]:
        parts = path.split("/")
        asked[(parts[2], parts[-2], parts[-1])] += 1
    assert asked == {(pid, name, kind): 1 for pid, name in want for kind in ("nodes", "workloads")}
    assert created and len(want) < len(facts["pools"])
    got = {tuple(r) for r in query_catalog(db, "SELECT DISTINCT project_id, pool_id FROM workload_statistics")}
    assert got == want


def test_the_snapshot_follows_continue_pages(tmp_path):
    result, facts, db = _snapshot(tmp_path, node_page_size=2, collect={"workload_statistics": False})
    pages = {key: max(1, math.ceil(len(nodes) / 2)) for key, nodes in facts["nodes"].items()}
    assert max(pages.values()) > 1
    calls = query_catalog(db, "SELECT project_id, pool_id, count(*) FROM fetches WHERE call = 'pool_nodes' "
                              "AND outcome = 'ok' GROUP BY ALL ORDER BY ALL")
    assert calls == sorted([pid, pool, n] for (pid, pool), n in pages.items())
    assert sum(q.count("continue=") for _, q in facts["asked"]) == sum(pages.values()) - len(pages)
    got = query_catalog(db, "SELECT project_id, pool_id, node_name FROM nodes ORDER BY ALL")
    assert got == sorted([pid, pool, n["metadata"]["name"]] for (pid, pool), nodes in facts["nodes"].items()
                         for n in nodes)
    # the per-pool calls are planned and counted: one first page per pool, later pages beside them
    assert result.pools == len(facts["pools"])
