"""The simulator's ShowPoolRuntimeMetrics: consistent with its fleet, and varied the way the service is."""

import math
import re

import httpx

from pipeline.modelarts import AkSkCredentials, ModelArtsClient
from pipeline.simulator import SimulatorConfig, run_simulator
from pipeline.simulator.catalog import FLAVORS
from pipeline.simulator.runtime import PROFILES, busy_share, profile, runtime_key

AK, SK = "AKRUNTIMETEST0000001", "runtime-test-sk-0123456789abcdefghijklm"
UNITS = {"": 1.0, "m": 1e-3}
MEM = {"Mi": 1 / 1024, "Gi": 1.0}


def cores(v) -> float:
    if isinstance(v, (int, float)):
        return float(v)
    number, unit = re.fullmatch(r"([0-9.]+)([a-z]*)", v).groups()
    return float(number) * UNITS[unit]


def gib(v: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]+)", v).groups()
    return float(number) * MEM[unit]


def test_capacity_is_what_the_available_nodes_offer_and_allocation_fits_in_it():
    with run_simulator(SimulatorConfig(projects=4, pools_per_project=6, seed=21, ak=AK, sk=SK)) as sim:
        import asyncio

        async def fetch(pid):
            async with ModelArtsClient(sim.url, AkSkCredentials(AK, SK), rate_limit=None) as c:
                return (await c.show_pool_runtime_metrics(pid)).json()

        seen_profiles, spellings, keys = set(), set(), set()
        for project in sim.projects:
            if project.forbidden:
                continue
            answer = asyncio.run(fetch(project.id))
            states = {p.name: p for p in sim.fleet.pool_states(project.id)}
            assert answer["kind"] == "PoolMetricsList" and [i["metadata"]["name"] for i in answer["items"]] == \
                sorted(states)
            for item in answer["items"]:
                pool = states[item["metadata"]["name"]]
                table = item["table"]
                cap, used, free = (table[k]["value"] for k in ("capacity", "allocated", "available"))
                want_cpu = sum(a.total("available") * FLAVORS[a.flavor].cpu for a in pool.allocations)
                want_cards: dict[str, int] = {}
                for a in pool.allocations:
                    f = FLAVORS[a.flavor]
                    if f.cards:
                        want_cards[runtime_key(f)] = want_cards.get(runtime_key(f), 0) + a.total("available") * f.cards
                assert math.isclose(cores(cap["cpu"]), want_cpu)
                assert {k: v for k, v in cap.items() if "/" in k} == want_cards
                for key in cap:
                    measure = gib if key == "memory" else cores
                    assert measure(used[key]) <= measure(cap[key]) + 1e-9
                    assert math.isclose(measure(used[key]) + measure(free[key]), measure(cap[key]), abs_tol=1e-3)
                work = table["workload"]
                assert work["allocated"]["sum"] == sum(v for k, v in work["allocated"].items() if k != "sum")
                assert work["queue"]["sum"] == sum(v for k, v in work["queue"].items() if k != "sum")
                if work["queue"]["sum"]:
                    assert busy_share(sim.fleet.seed, pool.name, sim.fleet.now) >= 0.95  # queues only when full
                seen_profiles.add(profile(sim.fleet.seed, pool.name))
                spellings.add(type(cap["cpu"]).__name__)
                keys |= {k for k in cap if "/" in k}
        # the fleet is varied the way the service is: idle to saturated pools, both spellings, several keys
        assert seen_profiles == set(PROFILES)
        assert spellings == {"float", "str"}  # cpu as a number, or as millicores text
        assert "huawei.com/ascend-1980" in keys or "nvidia.com/gpu" in keys
