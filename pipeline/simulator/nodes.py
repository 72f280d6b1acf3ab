"""Nodes of a pool (reference section 4), derived from the pool's node counts.

A node's name, IP and resources come from a hash of (pool, flavor, AZ, ordinal), so the same node keeps its
identity from one request to the next while the pool's counts stay put.
"""

import hashlib

from pipeline.simulator.catalog import FLAVORS
from pipeline.simulator.pools import PoolState
from pipeline.simulator.render import rfc3339

# Listed in this order, so healthy nodes keep their ordinals while others come and go.
_STATE_PHASES = (("available", "Available"), ("abnormal", "Abnormal"), ("creating", "Creating"),
                 ("deleting", "Deleting"))
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


def _digest(*parts: str) -> bytes:
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).digest()


def _node_doc(pool: PoolState, flavor_name: str, az: str, ordinal: int, phase: str) -> dict:
    d = _digest(pool.name, flavor_name, az, str(ordinal))
    suffix = "".join(_ALNUM[b % 36] for b in d[:5])
    flavor = FLAVORS[flavor_name]
    resources = {"cpu": str(flavor.cpu), "memory": f"{flavor.memory_gi}Gi"}
    if flavor.node_resource_key:
        resources[flavor.node_resource_key] = str(flavor.cards)
    # What is left for workloads after system reservations, as k8s quantities like the doc examples.
    available = {"cpu": f"{flavor.cpu * 1000 - 80 - 40 * (flavor.cpu // 8)}m",
                 "memory": f"{flavor.memory_gi * 1024 - 1850}Mi"}
    if flavor.node_resource_key:
        available[flavor.node_resource_key] = str(flavor.cards if phase == "Available" else 0)
    labels = {
        "os.modelarts.node/cluster": f"cce-{pool.root[-12:]}",
        "os.modelarts/resource.id": pool.resource_id,
        "os.modelarts/tenant.domain.id": pool.project.domain_id,
        "os.modelarts/tenant.project.id": pool.project.id,
        "os.modelarts/billing.status": "0",
    }
    if pool.physical:
        labels["os.modelarts.node/nodepool"] = f"{pool.display_name}-default"
    else:
        labels["os.modelarts.node/elastic.quota"] = pool.name
    return {
        "kind": "Node",
        "apiVersion": "v2",
        "metadata": {
            "name": f"os-node-created-{suffix}",
            "creationTimestamp": rfc3339(pool.created_at),
            "labels": labels,
            "annotations": {},
        },
        "spec": {
            "flavor": flavor_name,
            "hostNetwork": {
                "vpc": f"vpc-{d[5:9].hex()}",
                "subnet": f"subnet-{d[9:13].hex()}",
                "securityGroups": [f"sg-{d[13:16].hex()}"],
            },
            "rootVolume": {"volumeType": "SSD", "size": "200"},
        },
        "status": {
            "phase": phase,
            "az": az,
            "privateIp": f"192.168.{d[14] % 64}.{2 + d[15] % 250}",
            "resources": resources,
            "availableResources": available,
        },
    }


def pool_nodes(pool: PoolState) -> list[dict]:
    docs = []
    for a in pool.allocations:
        ordinals: dict[str, int] = {}
        for state, phase in _STATE_PHASES:
            for az, count in sorted(a.nodes[state].items()):
                for _ in range(count):
                    n = ordinals.get(az, 0)
                    ordinals[az] = n + 1
                    docs.append(_node_doc(pool, a.flavor, az, n, phase))
    return docs
