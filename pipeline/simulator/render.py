"""A pool's wire document (reference section 3), rendered from its state the way the service writes it:
camelCase keys, absent fields omitted (never null), labels and annotations string-valued, and
`status.resources.<state>` an array (the docs' shape) or, for a deterministic share of pools, a single
object (the SDK's shape).
"""

from datetime import datetime

from pipeline.simulator.pools import NODE_STATES, Allocation, PoolState


def rfc3339(moment: datetime) -> str:
    # isoformat is much cheaper than strftime; pool times are whole seconds in UTC.
    return moment.isoformat()[:19] + "Z"


def render(pool: PoolState) -> dict:
    """The pool's wire document (reference section 3), sparse like the service's."""
    labels = {
        "os.modelarts/name": pool.display_name,
        "os.modelarts/workspace.id": pool.workspace_id,
        "os.modelarts/resource.id": pool.resource_id,
        "os.modelarts/tenant.domain.id": pool.project.domain_id,
    }
    if not pool.legacy:
        labels["os.modelarts/tenant.project.id"] = pool.project.id
        labels["os.modelarts.pool/biz"] = "private"
        labels["os.modelarts/create-from"] = "console"
        labels["os.modelarts/region"] = pool.project.region
    if pool.physical:
        labels["os.modelarts/node.prefix"] = pool.display_name[:16]
    else:
        labels["os.modelarts/nobilling"] = "true"
    labels.update(pool.extra_labels)

    annotations = {"os.modelarts/description": pool.description}
    b = pool.billing
    if b is not None:
        annotations["os.modelarts/billing.mode"] = b.mode
        if b.mode == "1":
            annotations["os.modelarts/period.num"] = b.period_num
            annotations["os.modelarts/period.type"] = b.period_type
            annotations["os.modelarts/auto.renew"] = b.auto_renew
            annotations["os.modelarts/order.id"] = b.order_id
            annotations["os.modelarts/flavor.resource.ids"] = b.resource_ids
    if pool.physical and pool.subpools:
        annotations["os.modelarts.pool/subpools.count"] = str(pool.subpools)
    if not pool.legacy:
        annotations["os.modelarts/tenant.domain.name"] = pool.domain_name
    annotations.update(pool.extra_annotations)

    spec: dict = {"type": pool.type, "scope": list(pool.scopes), "resources": [_spec_resource(pool, a)
                                                                            for a in pool.allocations]}
    if pool.network:
        spec["network"] = {"name": pool.network}
        # The docs spell it containerNetwork, the SDK containernetwork; real pools show either.
        key = "containernetwork" if pool.sdk_shape else "containerNetwork"
        spec[key] = {"mode": "overlay_l2" if pool.gpu else "vpc-router"}
    if pool.job_flavors and not pool.legacy:
        spec["jobFlavors"] = list(pool.job_flavors)
    if pool.gpu or pool.npu:
        driver = {}
        if pool.gpu:
            driver["gpuVersion"] = pool.gpu.target
        if pool.npu:
            driver["npuVersion"] = pool.npu.target
        driver["updateStrategy"] = pool.update_strategy
        spec["driver"] = driver
    if pool.physical and (pool.control_mode or not pool.legacy):
        spec["controlMode"] = pool.control_mode
    spec.update(pool.extra_spec)

    status: dict = {"phase": pool.phase}
    if pool.message:
        status["message"] = pool.message
    resources = _status_resources(pool)
    if resources:
        status["resources"] = resources
    if pool.scope_states:
        status["scope"] = [{"scopeType": s, "state": st} for s, st in pool.scope_states.items()]
    if pool.gpu or pool.npu:
        status["driver"] = {
            kind: {"version": d.version, "state": d.state}
            for kind, d in (("gpu", pool.gpu), ("npu", pool.npu))
            if d is not None
        }
    if pool.parent:
        status["parent"] = pool.parent
    status["root"] = pool.root
    status.update(pool.extra_status)

    return {
        "kind": "Pool",
        "apiVersion": "v2",
        "metadata": {
            "name": pool.name,
            "creationTimestamp": rfc3339(pool.created_at),
            "labels": labels,
            "annotations": annotations,
        },
        "spec": spec,
        "status": status,
    }


def _azs(counts: dict[str, int]) -> list[dict]:
    return [{"az": az, "count": c} for az, c in sorted(counts.items())]


def _spec_resource(pool: PoolState, a: Allocation) -> dict:
    out: dict = {"flavor": a.flavor, "count": a.count}
    if not pool.legacy or not pool.physical:
        out["maxCount"] = a.max_count if not pool.physical else a.count
    out["azs"] = _azs(a.azs)
    if pool.physical and not pool.legacy:
        out["extendParams"] = {"dockerBaseSize": "50"}
        volume = {"volumeType": "SSD", "size": "800", "count": 1,
                  "extendParams": {"volumeGroup": "vgpaas"}}
        # SDK-shaped pools carry the SDK's single-object dataVolumes, the others the docs' array.
        out["dataVolumes"] = {**volume, "count": "1"} if pool.sdk_shape else [volume]
    return out


def _status_resources(pool: PoolState) -> dict:
    out: dict = {}
    for state in NODE_STATES:
        entries = []
        for a in pool.allocations:
            counts = a.nodes[state]
            total = sum(counts.values())
            if not total:
                continue
            entry: dict = {"flavor": a.flavor, "count": total}
            if not pool.physical and state == "available":
                entry["maxCount"] = a.max_count
            entry["azs"] = _azs(counts)
            entries.append(entry)
        if entries:
            out[state] = entries[0] if pool.sdk_shape else entries
    return out
