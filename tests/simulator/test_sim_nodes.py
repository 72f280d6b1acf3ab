"""The simulator's ListPoolNodes: nodes that match the pool's counts, and whose allocation adds up to what
ShowPoolRuntimeMetrics reports for the pool at the same fleet time."""

import asyncio
import collections
import math
import re
from fractions import Fraction

import pytest

from pipeline.modelarts import AkSkCredentials, ModelArtsClient
from pipeline.simulator import Fleet, SimulatorConfig, run_simulator
from pipeline.simulator.catalog import FLAVORS, GPU_DRIVERS, NPU_DRIVERS
from pipeline.simulator.runtime import runtime_metrics

AK, SK = "AKNODESTEST000000001", "nodes-test-sk-0123456789abcdefghijklmnop"
_SUFFIX = {"": Fraction(1), "m": Fraction(1, 1000), "Ki": Fraction(2**10), "Mi": Fraction(2**20),
           "Gi": Fraction(2**30)}


def quantity(v) -> Fraction:
    """A Kubernetes quantity, exactly (only the spellings a node or runtime answer may use)."""
    if isinstance(v, (int, float)):
        return Fraction(str(v))
    number, suffix = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(m|Ki|Mi|Gi)?", v).groups()
    return Fraction(number) * _SUFFIX[suffix or ""]


def entries(value):
    return value if isinstance(value, list) else [value]


def _fleets():
    """Fleets at a few times: allocation follows the hour, nodes scale and fail as the fleet evolves."""
    for seed in (3, 7, 21):
        fleet = Fleet(seed, 4, 6)
        for hours in (0, 5, 9):
            fleet.advance(hours)
            yield fleet


def test_nodes_match_the_pool_counts_per_state_flavor_and_az():
    phase_of = {"available": "Available", "abnormal": "Abnormal", "creating": "Creating", "deleting": "Deleting"}
    checked = 0
    for fleet in _fleets():
        for p in fleet.projects:
            for doc in fleet.pools(p.id):
                want = collections.Counter()
                for state, value in doc["status"].get("resources", {}).items():
                    for e in entries(value):
                        for az in e.get("azs", []):
                            want[(phase_of[state], e["flavor"], az["az"])] += az["count"]
                nodes = fleet.nodes(p.id, doc["metadata"]["name"])
                got = collections.Counter((n["status"]["phase"], n["spec"]["flavor"], n["status"]["az"])
                                          for n in nodes)
                assert got == +want, doc["metadata"]["name"]
                assert len({n["metadata"]["name"] for n in nodes}) == len(nodes)
                checked += len(nodes)
    assert checked > 500


def test_node_allocation_adds_up_to_the_runtime_allocation_of_the_pool():
    spellings, keys, partly = set(), set(), 0
    for fleet in _fleets():
        for p in fleet.projects:
            answer = runtime_metrics(fleet.seed, fleet.pool_states(p.id), fleet.now)
            for item in answer["items"]:
                name = item["metadata"]["name"]
                nodes = fleet.nodes(p.id, name)
                held: dict[str, Fraction] = collections.defaultdict(Fraction)
                for n in nodes:
                    res, free = n["status"]["resources"], n["status"].get("availableResources")
                    flavor = FLAVORS[n["spec"]["flavor"]]
                    # what the node offers is its flavor, under the catalog's node-side accelerator key
                    assert quantity(res["cpu"]) == flavor.cpu and quantity(res["memory"]) == flavor.memory_gi * 2**30
                    assert {k for k in res if "/" in k} == ({flavor.node_resource_key} if flavor.cards else set())
                    spellings |= {type(v).__name__ + (re.sub(r"[0-9.]", "", v) if isinstance(v, str) else "")
                                  for m in (res, free or {}) for v in m.values()}
                    if n["status"]["phase"] == "Creating":
                        assert free is None  # not in the cluster yet: nothing to schedule on
                        continue
                    assert set(free) == set(res)
                    for key in res:
                        used = quantity(res[key]) - quantity(free[key])
                        assert 0 <= used, (name, n["metadata"]["name"], key)
                        if n["status"]["phase"] != "Available":
                            assert used == 0  # nothing runs on an abnormal or leaving node
                        held[key] += used
                    if 0 < quantity(res["cpu"]) - quantity(free["cpu"]) < quantity(res["cpu"]):
                        partly += 1
                # the runtime answer names accelerators by the workload-side key: map through the catalog
                to_node = {}
                for a in fleet.pool_state(p.id, name).allocations:
                    f = FLAVORS[a.flavor]
                    if f.cards:
                        to_node["nvidia.com/gpu" if f.kind == "gpu" else
                                "huawei.com/ascend-310" if "snt3" in f.name else "huawei.com/ascend-1980"] = \
                            f.node_resource_key
                allocated = item["table"]["allocated"]["value"]
                want = {to_node.get(k, k): quantity(v) for k, v in allocated.items()}
                got = {k: held.get(k, Fraction(0)) for k in want}
                assert got == want, name
                assert set(held) <= set(want)
                keys |= {k for k in held if "/" in k}
    assert {"int", "str", "strm", "strMi", "strGi"} <= spellings   # 5, "8", "1073m", "15548Mi", "64Gi"
    assert {"nvidia.com/gpu", "huawei.com/ascend-snt9"} <= keys
    assert partly > 0  # some nodes are partly used, not only full or empty


def test_driver_os_plugins_and_billing_status():
    seen_billing, seen_driver_phases = collections.Counter(), set()
    for fleet in _fleets():
        for p in fleet.projects:
            for state in fleet.pool_states(p.id):
                # a sub-pool's nodes are its parent's and run its drivers
                source = (fleet.pool_state(p.id, state.parent) if state.parent else None) or state
                for n in fleet.nodes(p.id, state.name):
                    status, flavor = n["status"], FLAVORS[n["spec"]["flavor"]]
                    assert status["os"]["name"]
                    plugins = status["plugins"]
                    assert all(set(x) == {"name", "phase", "version"} for x in plugins)
                    driver = source.gpu if flavor.kind == "gpu" else source.npu if flavor.kind == "npu" else None
                    if driver is None:
                        assert "driver" not in status
                    else:
                        known = GPU_DRIVERS if flavor.kind == "gpu" else NPU_DRIVERS
                        assert status["driver"]["version"] in known
                        assert status["driver"]["version"] in (driver.version, driver.target)
                        seen_driver_phases.add(status["driver"]["phase"])
                    billing = n["metadata"]["labels"].get("os.modelarts/billing.status")
                    seen_billing[billing] += 1
                    if billing == "2":
                        assert status["phase"] == "Deleting"
                    if billing == "1":
                        assert state.control_mode & 24
    assert set(seen_billing) >= {"0", "1", None} and seen_billing["0"] > seen_billing["1"]
    assert "Running" in seen_driver_phases


def test_allocation_on_the_nodes_follows_the_hour():
    fleet = Fleet(21, 4, 6)
    pid = fleet.projects[0].id
    pools = [s.name for s in fleet.pool_states(pid) if s.node_total("available")]
    before = {name: [n["status"].get("availableResources") for n in fleet.nodes(pid, name)] for name in pools}
    fleet.advance(0.5)  # within the same hour: the same answer
    assert before == {name: [n["status"].get("availableResources") for n in fleet.nodes(pid, name)]
                      for name in pools}
    fleet.advance(6)
    after = {name: [n["status"].get("availableResources") for n in fleet.nodes(pid, name)] for name in pools
             if name in {s.name for s in fleet.pool_states(pid)}}
    assert after != {name: before[name] for name in after}


def _client_pages(sim, pid, pool, **kw):
    async def go():
        async with ModelArtsClient(sim.url, AkSkCredentials(AK, SK), rate_limit=None) as c:
            return await c.list_pool_nodes(pid, pool, **kw)
    return asyncio.run(go())


def test_the_client_follows_continue_when_the_service_pages():
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=6, seed=7, ak=AK, sk=SK,
                                       node_page_size=2)) as sim:
        pid = sim.projects[0].id
        name = max((s.name for s in sim.fleet.pool_states(pid)), key=lambda n: len(sim.fleet.nodes(pid, n)))
        nodes = sim.fleet.nodes(pid, name)
        assert len(nodes) >= 3
        pages = _client_pages(sim, pid, name)  # no limit sent: the service's page size (forced to 2 here)
        assert len(pages) == math.ceil(len(nodes) / 2)
        assert [n for p in pages for n in p.json()["items"]] == nodes
        node_calls = [r for r in sim.requests if r.path.endswith("/nodes")]
        assert [("limit=" in r.query, "continue=" in r.query) for r in node_calls] == \
            [(False, False)] + [(False, True)] * (len(pages) - 1)
        assert pages[-1].json()["metadata"] == {}
        # a limit, when one is sent, is honoured over the service's default
        pages = _client_pages(sim, pid, name, limit=3)
        assert [len(p.json()["items"]) for p in pages][:-1] == [3] * (len(pages) - 1)
        assert [n for p in pages for n in p.json()["items"]] == nodes


def test_one_page_by_default():
    with run_simulator(SimulatorConfig(projects=1, pools_per_project=6, seed=7, ak=AK, sk=SK)) as sim:
        pid = sim.projects[0].id
        name = max((s.name for s in sim.fleet.pool_states(pid)), key=lambda n: len(sim.fleet.nodes(pid, n)))
        pages = _client_pages(sim, pid, name)
        assert len(pages) == 1 and pages[0].json()["items"] == sim.fleet.nodes(pid, name)


def test_page_size_is_checked():
    with pytest.raises(ValueError):
        run_simulator(SimulatorConfig(node_page_size=0)).__enter__()
