"""ShowPoolRuntimeMetrics (GET /v2/{project_id}/metrics/runtime/pools): allocated versus capacity per pool and
resource, and running and queued workloads per type, consistent with the fleet.

Capacity is what a pool's available nodes offer (cpu, memory, and its accelerator cards); allocation follows a
daily rhythm per pool, derived from the seed and the simulated hour alone, so the same fleet at the same hour
always answers the same: some pools idle, some busy, some saturated with a queue. Quantities come in the mixed
forms the service sends (numbers, "1073m", "15548Mi", "64Gi"), and accelerator keys are the workload-side
names (huawei.com/ascend-1980 for snt9 chips, where nodes say huawei.com/ascend-snt9): see
../shared/reference/modelarts-utilization-apis.md section 2.
"""

import hashlib
import math
from datetime import datetime, timezone

from pipeline.simulator.catalog import FLAVORS, Flavor
from pipeline.simulator.pools import PoolState

WORKLOAD_TYPES = ("train", "infer", "notebook", "warmUpTask", "x-infer")
# The rhythm's shapes: a pool's share of capacity in use over the day (0..1), before noise.
PROFILES = ("idle", "office", "batch", "saturated")


def runtime_key(flavor: Flavor) -> str:
    """The accelerator's resource name as runtime metrics and workloads spell it."""
    if flavor.kind == "gpu":
        return "nvidia.com/gpu"
    if flavor.kind == "npu":
        return "huawei.com/ascend-310" if "snt3" in flavor.name else "huawei.com/ascend-1980"
    return ""


def _unit(seed: int, *parts: object) -> float:
    """A number in [0, 1) from the seed and the parts, the same on every call."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def profile(seed: int, pool: str) -> str:
    return PROFILES[int(_unit(seed, "profile", pool) * len(PROFILES))]


def busy_share(seed: int, pool: str, at: datetime) -> float:
    """Share of a pool's capacity allocated at `at` (UTC), by its profile, with hourly noise."""
    hour = at.astimezone(timezone.utc).hour
    noise = _unit(seed, "noise", pool, at.strftime("%Y%m%d%H")) - 0.5
    kind = profile(seed, pool)
    if kind == "idle":
        base = 0.05
    elif kind == "office":  # busy in the working day of UTC+8 (08:00-20:00 there), quiet at night
        local = (hour + 8) % 24
        base = 0.15 + 0.7 * math.sin(math.pi * (local - 8) / 12) if 8 <= local < 20 else 0.15
    elif kind == "batch":
        base = 0.6
    else:
        base = 1.0
    return min(1.0, max(0.0, base + 0.2 * noise))


def _cores(n: float, style: int) -> object:
    """cpu as the service sends it: a number, or millicores text."""
    return n if style == 0 else f"{int(round(n * 1000))}m"


def _mem(gib: float, style: int) -> str:
    return f"{int(round(gib))}Gi" if style == 0 else f"{int(round(gib * 1024))}Mi"


def pool_metrics(seed: int, pool: PoolState, at: datetime) -> dict:
    """One item of the answer: the pool's capacity, allocated and available resources and its workloads."""
    cpu = mem = 0.0
    cards: dict[str, int] = {}
    for alloc in pool.allocations:
        flavor = FLAVORS.get(alloc.flavor)
        if flavor is None:
            continue
        n = alloc.total("available")
        cpu += n * flavor.cpu
        mem += n * flavor.memory_gi
        if flavor.cards:
            key = runtime_key(flavor)
            cards[key] = cards.get(key, 0) + n * flavor.cards
    share = busy_share(seed, pool.name, at)
    style = int(_unit(seed, "style", pool.name) * 2)  # a pool keeps one spelling of its quantities
    alloc_cards = {k: int(math.floor(v * share)) for k, v in cards.items()}
    alloc_cpu = round(cpu * share, 3)
    alloc_mem = mem * share
    stamp = at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    capacity = {"cpu": _cores(cpu, style), "memory": _mem(mem, style), **cards}
    allocated = {"cpu": _cores(alloc_cpu, style), "memory": _mem(alloc_mem, style), **alloc_cards}
    available = {"cpu": _cores(round(cpu - alloc_cpu, 3), style), "memory": _mem(mem - alloc_mem, style),
                 **{k: cards[k] - alloc_cards[k] for k in cards}}
    running = {t: 0 for t in WORKLOAD_TYPES}
    queued = {t: 0 for t in WORKLOAD_TYPES}
    if cpu > 0 and share > 0:
        jobs = max(1, int(round(share * 6)))
        for i in range(jobs):
            running[WORKLOAD_TYPES[int(_unit(seed, "job", pool.name, i) * 3)]] += 1
    if share >= 0.95:  # saturated: work waits for resources
        for i in range(1 + int(_unit(seed, "queue", pool.name, stamp) * 4)):
            queued[WORKLOAD_TYPES[int(_unit(seed, "qjob", pool.name, i) * 2)]] += 1
    running["sum"] = sum(running.values())
    queued["sum"] = sum(queued.values())
    return {
        "metadata": {"name": pool.name, "labels": {"os.modelarts/name": pool.display_name}},
        "table": {
            "capacity": {"value": capacity, "maxValue": capacity, "timestamp": stamp, "window": "1m"},
            "allocated": {"value": allocated, "timestamp": stamp, "window": "1m"},
            "available": {"value": available, "maxValue": available, "timestamp": stamp, "window": "1m"},
            "workload": {"allocated": running, "queue": queued, "timestamp": stamp, "window": "1m"},
        },
    }


def runtime_metrics(seed: int, pools: list[PoolState], at: datetime) -> dict:
    """The whole answer for one project: every pool it has (Logical sub-pools included, as the service lists
    every pool of the project)."""
    return {"apiVersion": "v2", "kind": "PoolMetricsList",
            "items": [pool_metrics(seed, p, at) for p in sorted(pools, key=lambda p: p.name)]}
