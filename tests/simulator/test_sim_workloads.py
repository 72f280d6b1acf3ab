"""The simulator's ShowWorkloadStatistics: counts consistent with the runtime metrics at the same time, and
both roots the sources give (`statistics` with integers, `statics` with strings)."""

import json

from pipeline.simulator import SimulatorConfig, run_simulator
from pipeline.simulator.runtime import runtime_metrics
from simkit import call

STATUSES = {"Queue", "Pending", "Abnormal", "Terminating", "Creating", "Running", "Completed", "Terminated", "Failed"}


def _path(pid, pool):
    return f"/v2/{pid}/statistics/pools/{pool}/workloads"


def test_counts_follow_the_runtime_metrics_in_both_shapes():
    with run_simulator(SimulatorConfig(projects=4, pools_per_project=6, seed=21)) as sim:
        roots, other, checked = set(), set(), 0
        for hours in (0, 7):
            sim.fleet.advance(hours)
            for p in sim.projects:
                answer = runtime_metrics(sim.fleet.seed, sim.fleet.pool_states(p.id), sim.fleet.now)
                for item in answer["items"]:
                    resp = call(sim, "GET", _path(p.id, item["metadata"]["name"]))
                    assert resp.status == 200 and resp.headers["content-type"].startswith("application/json")
                    body = resp.json()
                    (root,) = body
                    roots.add(root)
                    stats = body[root]
                    # the docs' table: root `statics`, every count a string; the SDK: `statistics`, integers
                    number = str if root == "statics" else int
                    assert root in ("statics", "statistics")
                    assert type(stats["total"]) is number
                    work = item["table"]["workload"]
                    by_type = {i["type"]: i for i in stats["items"]}
                    assert {"train", "infer", "notebook"} <= set(by_type)
                    for kind, i in by_type.items():
                        assert set(i["status"]) == STATUSES
                        assert all(type(v) is number for v in i["status"].values())
                        counts = {s: int(v) for s, v in i["status"].items()}
                        assert counts["Running"] == work["allocated"].get(kind, 0)
                        assert counts["Queue"] == work["queue"].get(kind, 0)
                        assert int(i["total"]) == sum(counts.values())
                        other |= {s for s, v in counts.items() if v and s not in ("Running", "Queue")}
                        checked += 1
                    # every type with running or queued work has an item
                    assert {k for k, v in work["allocated"].items() if v and k != "sum"} <= set(by_type)
                    assert {k for k, v in work["queue"].items() if v and k != "sum"} <= set(by_type)
                    assert int(stats["total"]) == sum(int(i["total"]) for i in stats["items"])
                    assert "null" not in json.dumps(body)
        assert roots == {"statics", "statistics"}
        assert {"Completed", "Failed"} <= other and checked > 100


def test_unknown_pool_is_a_404():
    with run_simulator(SimulatorConfig(projects=1, pools_per_project=1, seed=1)) as sim:
        resp = call(sim, "GET", _path(sim.projects[0].id, "pool-00000000-0000-0000-0000-000000000000"))
        assert resp.status == 404 and resp.json()["error_code"] == "ModelArts.50015001"
