"""Nodes of a pool (ListPoolNodes: pools reference section 4, utilization reference section 4), derived from
the pool's node counts and from what ShowPoolRuntimeMetrics reports for the pool at the same fleet time.

- A node's name, IP and network come from a hash of (pool, flavor, AZ, ordinal), so the same node keeps its
  identity from one request to the next while the pool's counts stay put. There is one node per node the pool's
  status counts, per flavor, state and AZ.
- `status.resources` is what the node offers (cpu, memory, its accelerator cards under the node-side key of
  the flavor catalog, e.g. huawei.com/ascend-snt9, where runtime metrics say huawei.com/ascend-1980);
  `status.availableResources` is what is left after the workloads' requests. The allocation runtime.py reports
  for the pool (same seed, same time) is spread over its Available nodes: the sum over nodes of
  (resources - availableResources) per key equals the pool's runtime `allocated`, and available <= resources
  on every node. Nodes in other phases hold nothing (Abnormal and Deleting: available = resources; Creating:
  no availableResources yet, the node has not joined the cluster).
- Quantities come in the mixed spellings the service uses: JSON numbers, "8", "8000m", "64Gi", "15548Mi".
- `status.driver {phase, version}`, `status.os {name}`, `status.plugins [{name, phase, version}]`, which
  Huawei's Terraform provider reads and the SDK's model lacks; label `os.modelarts/billing.status`
  ("0" normal, "1" frozen, "2" deleted), absent on a few nodes.
"""

import hashlib
import re
from datetime import datetime, timezone

from pipeline.simulator.catalog import FLAVORS, Flavor
from pipeline.simulator.pools import Driver, PoolState
from pipeline.simulator.render import rfc3339
from pipeline.simulator.runtime import pool_metrics, runtime_key

# Listed in this order, so healthy nodes keep their ordinals while others come and go.
_STATE_PHASES = (("available", "Available"), ("abnormal", "Abnormal"), ("creating", "Creating"),
                 ("deleting", "Deleting"))
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_FROZEN = 8 | 16  # controlMode bits: frozen, police-frozen
_MEM_UNITS = {"Mi": 1, "Gi": 1024}  # in MiB


def _digest(*parts: str) -> bytes:
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).digest()


def _millicores(v) -> int:
    """cpu of a runtime answer (a number of cores, or "<n>m") in millicores."""
    if isinstance(v, (int, float)):
        return int(round(v * 1000))
    m = re.fullmatch(r"([0-9]+)m", v)
    return int(m[1]) if m else int(round(float(v) * 1000))


def _mebibytes(v) -> int:
    """memory of a runtime answer ("<n>Gi" or "<n>Mi") in MiB."""
    m = re.fullmatch(r"([0-9]+)(Mi|Gi)", v)
    return int(m[1]) * _MEM_UNITS[m[2]]


def _cpu_text(millicores: int, style: int):
    """cpu as nodes send it: a JSON number or plain text when whole cores, else millicores text."""
    if millicores % 1000 == 0 and style != 2:
        cores = millicores // 1000
        return cores if style == 0 else str(cores)
    return f"{millicores}m"


def _mem_text(mib: int, style: int) -> str:
    return f"{mib // 1024}Gi" if mib % 1024 == 0 and style != 1 else f"{mib}Mi"


def _cards_text(n: int, style: int):
    return n if style == 0 else str(n)


def _os_name(pool: PoolState, flavor: Flavor) -> str:
    if flavor.arch == "arm64":
        return "EulerOS 2.10"
    if flavor.kind == "cpu":
        return "HCE OS 2.0"
    return ("Ubuntu 18.04", "EulerOS 2.9", "Ubuntu 22.04")[_digest(pool.root, "os")[0] % 3]


def _plugin_version(name: str, pool: PoolState) -> str:
    return f"{1 + _digest(pool.root, name)[0] % 3}.{_digest(pool.root, name)[1] % 10}.{_digest(pool.root, name)[2] % 20}"


class _Slot:
    """One node being built: its identity, what it offers, and what the pool's workloads hold on it."""

    def __init__(self, pool: PoolState, flavor_name: str, az: str, ordinal: int, phase: str):
        self.pool, self.flavor_name, self.az, self.ordinal, self.phase = pool, flavor_name, az, ordinal, phase
        self.flavor = FLAVORS[flavor_name]
        self.d = _digest(pool.name, flavor_name, az, str(ordinal))
        self.name = "os-node-created-" + "".join(_ALNUM[b % 36] for b in self.d[:5])
        # in integral units: millicores, MiB, cards
        self.capacity = {"cpu": self.flavor.cpu * 1000, "memory": self.flavor.memory_gi * 1024}
        if self.flavor.node_resource_key:
            self.capacity[self.flavor.node_resource_key] = self.flavor.cards
        self.held = {k: 0 for k in self.capacity}


def _spread(seed: int, pool: PoolState, slots: list[_Slot], at: datetime) -> None:
    """Put the pool's runtime allocation at `at` on its Available nodes: workloads pack onto nodes, so the
    nodes are filled one after the other, in an order that changes every hour."""
    table = pool_metrics(seed, pool, at)["table"]
    allocated = table["allocated"]["value"]
    ready = [s for s in slots if s.phase == "Available"]
    hour = at.astimezone(timezone.utc).strftime("%Y%m%d%H")
    ready.sort(key=lambda s: _digest(str(seed), pool.name, hour, s.name))
    totals = {"cpu": _millicores(allocated.get("cpu", 0)), "memory": _mebibytes(allocated.get("memory", "0Mi"))}
    # the runtime answer names cards by the workload-side key; a node names them by its flavor's node key
    for flavor_name in sorted({s.flavor_name for s in ready}):
        flavor = FLAVORS[flavor_name]
        if flavor.cards:
            totals[flavor.node_resource_key] = int(allocated.get(runtime_key(flavor), 0))
    for key, left in totals.items():
        for s in ready:
            if left <= 0:
                break
            take = min(left, s.capacity.get(key, 0))
            s.held[key] = s.held.get(key, 0) + take
            left -= take
        if left > 0:  # the runtime answer is computed from the same nodes: this cannot happen
            raise AssertionError(f"allocation of {key} exceeds what the nodes of {pool.name} offer")


def _driver(slot: _Slot, driver: Driver | None) -> dict | None:
    if driver is None or slot.flavor.kind == "cpu":
        return None
    if slot.phase == "Creating":
        return {"phase": "Creating", "version": driver.target}
    if slot.phase == "Abnormal":
        return {"phase": "Abnormal", "version": driver.version}
    if driver.state == "Upgrading":  # a rolling upgrade: some nodes are done already
        done = slot.d[7] % 2 == 0
        return {"phase": "Running" if done else "Upgrading", "version": driver.target if done else driver.version}
    return {"phase": "Running" if driver.state in ("Running", "Upgrading") else driver.state,
            "version": driver.version}


def _node_doc(slot: _Slot, driver: Driver | None) -> dict:
    pool, flavor, d, phase = slot.pool, slot.flavor, slot.d, slot.phase
    style = d[6] % 3  # a node keeps one spelling of its quantities
    key = flavor.node_resource_key
    resources = {"cpu": _cpu_text(slot.capacity["cpu"], style), "memory": _mem_text(slot.capacity["memory"], style)}
    if key:
        resources[key] = _cards_text(slot.capacity[key], style)
    labels = {
        "os.modelarts.node/cluster": f"cce-{pool.root[-12:]}",
        "os.modelarts/resource.id": pool.resource_id,
        "os.modelarts/tenant.domain.id": pool.project.domain_id,
        "os.modelarts/tenant.project.id": pool.project.id,
    }
    if d[8] % 20:  # a few nodes lack the label (older node images): billing status unknown
        frozen = pool.control_mode & _FROZEN
        labels["os.modelarts/billing.status"] = "2" if phase == "Deleting" else "1" if frozen else "0"
    if pool.physical:
        labels["os.modelarts.node/nodepool"] = f"{pool.display_name}-default"
    else:
        labels["os.modelarts.node/elastic.quota"] = pool.name
    status: dict = {
        "phase": phase,
        "az": slot.az,
        "privateIp": f"192.168.{d[14] % 64}.{2 + d[15] % 250}",
        "resources": resources,
    }
    if phase != "Creating":  # a node that has not joined the cluster has nothing to schedule yet
        free = {k: slot.capacity[k] - slot.held.get(k, 0) for k in slot.capacity}
        other = (style + 1) % 3  # often spelled differently from the node's resources
        available = {"cpu": _cpu_text(free["cpu"], other), "memory": _mem_text(free["memory"], other)}
        if key:
            available[key] = _cards_text(free[key], other)
        status["availableResources"] = available
    drv = _driver(slot, driver)
    if drv is not None:
        status["driver"] = drv
    status["os"] = {"name": _os_name(pool, flavor)}
    plugin_phase = "Abnormal" if phase == "Abnormal" else "Pending" if phase == "Creating" else "Running"
    plugins = [{"name": "modelarts-node-agent", "phase": plugin_phase,
                "version": _plugin_version("agent", pool)}]
    if flavor.kind == "gpu":
        plugins.append({"name": "gpu-device-plugin", "phase": plugin_phase, "version": _plugin_version("gpu", pool)})
    elif flavor.kind == "npu":
        plugins.append({"name": "ascend-device-plugin", "phase": plugin_phase,
                        "version": _plugin_version("npu", pool)})
    status["plugins"] = plugins
    return {
        "kind": "Node",
        "apiVersion": "v2",
        "metadata": {
            "name": slot.name,
            "creationTimestamp": rfc3339(pool.created_at),
            "labels": labels,
            "annotations": {},
        },
        "spec": {
            "flavor": slot.flavor_name,
            "hostNetwork": {
                "vpc": f"vpc-{d[5:9].hex()}",
                "subnet": f"subnet-{d[9:13].hex()}",
                "securityGroups": [f"sg-{d[13:16].hex()}"],
            },
            "rootVolume": {"volumeType": "SSD", "size": "200"},
        },
        "status": status,
    }


def pool_nodes(pool: PoolState, seed: int, at: datetime, driver_of: PoolState | None = None) -> list[dict]:
    """The nodes of `pool` at fleet time `at`. `driver_of` is the pool whose drivers the nodes run (the parent
    of a Logical sub-pool, whose nodes are the parent's); default the pool itself."""
    slots = []
    for a in pool.allocations:
        if a.flavor not in FLAVORS:
            continue
        ordinals: dict[str, int] = {}
        for state, phase in _STATE_PHASES:
            for az, count in sorted(a.nodes[state].items()):
                for _ in range(count):
                    n = ordinals.get(az, 0)
                    ordinals[az] = n + 1
                    slots.append(_Slot(pool, a.flavor, az, n, phase))
    _spread(seed, pool, slots, at)
    source = driver_of or pool
    docs = []
    for s in slots:
        driver = source.gpu if s.flavor.kind == "gpu" else source.npu if s.flavor.kind == "npu" else None
        docs.append(_node_doc(s, driver))
    return docs
