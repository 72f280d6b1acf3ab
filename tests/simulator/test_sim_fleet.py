"""The fleet: deterministic, shaped like the service's documents, and evolving like a real account."""

import collections
import json
import re
from datetime import datetime, timezone

import pytest

from pipeline.simulator import Fleet, generate_pools, generate_pools_jsonl
from pipeline.simulator.catalog import FLAVORS, GPU_FLAVORS, NPU_FLAVORS
from pipeline.simulator.pools import NODE_STATES, PHASES

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{34,61}[a-z0-9]$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
RFC3339Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def all_docs(fleet: Fleet) -> list[dict]:
    return [d for p in fleet.projects for d in fleet.pools(p.id)]


def entries(value) -> list[dict]:
    return value if isinstance(value, list) else [value]


def test_same_seed_same_json_and_other_seed_differs():
    assert Fleet(7, 4, 6).to_json() == Fleet(7, 4, 6).to_json()
    assert Fleet(7, 4, 6).to_json() != Fleet(8, 4, 6).to_json()


def test_evolution_depends_only_on_total_time():
    a, b, c = Fleet(3, 3, 5), Fleet(3, 3, 5), Fleet(3, 3, 5)
    a.advance(hours=3)
    for _ in range(3):
        b.advance(hours=1)
    for _ in range(6):
        c.advance(hours=0.5)
    assert a.to_json() == b.to_json() == c.to_json()
    assert a.now == datetime(2026, 11, 1, 3, tzinfo=timezone.utc)


def test_projects_spread_over_regions_with_iam_names():
    fleet = Fleet(7, 10, 1)
    names = [p.name for p in fleet.projects]
    assert names[:4] == ["cn-north-4", "cn-east-3", "cn-south-1", "ap-southeast-1"]
    assert "cn-north-4_team02" in names and "cn-north-4_team03" in names
    assert len({p.id for p in fleet.projects}) == 10
    assert all(HEX32.match(p.id) and p.domain_id == fleet.domain_id for p in fleet.projects)
    assert {p.region for p in Fleet(1, 3, 1, regions=("af-south-1", "cn-north-9")).projects} == {
        "af-south-1", "cn-north-9"}
    with pytest.raises(ValueError):
        Fleet(1, 1, 1, regions=("mars-1",))


def test_documents_have_the_wire_shape():
    fleet = Fleet(7, 10, 6)
    docs = all_docs(fleet)
    shapes = collections.Counter()
    for doc in docs:
        assert doc["kind"] == "Pool" and doc["apiVersion"] == "v2"
        meta, spec, status = doc["metadata"], doc["spec"], doc["status"]
        assert NAME_RE.match(meta["name"]), meta["name"]
        assert RFC3339Z.match(meta["creationTimestamp"])
        assert all(isinstance(v, str) for v in {**meta["labels"], **meta["annotations"]}.values())
        assert meta["labels"]["os.modelarts/name"] and "os.modelarts/workspace.id" in meta["labels"]
        assert spec["type"] in ("Dedicate", "Logical") and set(spec["scope"]) <= {"Train", "Infer", "Notebook"}
        assert status["phase"] in PHASES
        for res in spec["resources"]:
            assert res["flavor"] in FLAVORS
            assert sum(a["count"] for a in res["azs"]) == res["count"]
        for state, value in status.get("resources", {}).items():
            assert state in NODE_STATES
            shapes[type(value).__name__] += 1
            for e in entries(value):
                assert sum(a["count"] for a in e["azs"]) == e["count"] > 0
        assert "null" not in json.dumps(doc)
    assert shapes["list"] and shapes["dict"], "both the docs' array and the SDK's object shape"


def test_live_nodes_per_az_match_the_requested_counts():
    fleet = Fleet(11, 8, 6)
    for _ in range(6):
        for doc in all_docs(fleet):
            status = doc["status"]
            if status["phase"] not in ("Running", "Abnormal", "Error", "ScalingFailed", "Creating"):
                continue
            for res in doc["spec"]["resources"]:
                live: dict[str, int] = collections.Counter()
                for state in ("creating", "available", "abnormal"):
                    for e in entries(status.get("resources", {}).get(state, [])):
                        if e["flavor"] == res["flavor"]:
                            live.update({a["az"]: a["count"] for a in e["azs"]})
                assert dict(live) == {a["az"]: a["count"] for a in res["azs"]}, doc["metadata"]["name"]
        fleet.advance(hours=1)


def test_physical_and_logical_pools_reference_each_other():
    fleet = Fleet(7, 10, 6)
    logical = 0
    for p in fleet.projects:
        by_name = {d["metadata"]["name"]: d for d in fleet.pools(p.id)}
        for name, doc in by_name.items():
            status = doc["status"]
            if doc["spec"]["type"] == "Dedicate":
                assert status["root"] == name and "parent" not in status
                assert doc["spec"]["network"]["name"].startswith("network-")
            else:
                logical += 1
                parent = by_name[status["parent"]]
                assert parent["spec"]["type"] == "Dedicate" and status["root"] == parent["metadata"]["name"]
                flavors = {r["flavor"] for r in parent["spec"]["resources"]}
                assert {r["flavor"] for r in doc["spec"]["resources"]} <= flavors
    assert logical >= 5


def test_the_fleet_covers_the_field_variety():
    docs = all_docs(Fleet(7, 10, 6))
    annotations = [d["metadata"]["annotations"] for d in docs]
    modes = collections.Counter(a.get("os.modelarts/billing.mode") for a in annotations)
    assert modes["0"] and modes["1"] and modes[None]
    yearly = [a for a in annotations if a.get("os.modelarts/billing.mode") == "1"]
    assert {a["os.modelarts/period.type"] for a in yearly} == {"2", "3"}
    assert all(a["os.modelarts/order.id"].startswith("CS") for a in yearly)
    assert {a["os.modelarts/auto.renew"] for a in yearly} == {"0", "1"}
    workspaces = {d["metadata"]["labels"]["os.modelarts/workspace.id"] for d in docs}
    assert "0" in workspaces and any(HEX32.match(w) for w in workspaces)
    flavors = {r["flavor"] for d in docs for r in d["spec"]["resources"]}
    assert flavors & set(GPU_FLAVORS) and flavors & set(NPU_FLAVORS) and any(".cpu." in f for f in flavors)
    assert len({a["az"] for d in docs for r in d["spec"]["resources"] for a in r["azs"]}) >= 8
    modes = {d["spec"].get("controlMode") for d in docs}
    assert 0 in modes and len(modes - {0, None}) >= 2
    drivers = [d["status"]["driver"] for d in docs if "driver" in d["status"]]
    assert any("gpu" in x for x in drivers) and any("npu" in x for x in drivers)
    assert any(d["spec"].get("jobFlavors") for d in docs)
    known_labels = {"os.modelarts/name", "os.modelarts/workspace.id", "os.modelarts/resource.id",
                    "os.modelarts/tenant.domain.id", "os.modelarts/tenant.project.id", "os.modelarts.pool/biz",
                    "os.modelarts/create-from", "os.modelarts/region", "os.modelarts/node.prefix",
                    "os.modelarts/nobilling"}
    assert any(set(d["metadata"]["labels"]) - known_labels for d in docs), "unknown labels for forward compat"
    assert any("schedulerConfig" in d["spec"] or "clusters" in d["status"] for d in docs)


def test_48_hours_bring_every_kind_of_change_and_every_phase():
    fleet = Fleet(7, 10, 5)
    phases = {d["status"]["phase"] for d in all_docs(fleet)}
    seen = collections.Counter()
    before = {d["metadata"]["name"]: d for d in all_docs(fleet)}
    for _ in range(48):
        fleet.advance(hours=1)
        after = {d["metadata"]["name"]: d for d in all_docs(fleet)}
        phases |= {d["status"]["phase"] for d in after.values()}
        seen["created"] += len(after.keys() - before.keys())
        seen["deleted"] += len(before.keys() - after.keys())
        for name in after.keys() & before.keys():
            old, new = before[name], after[name]
            if [r["count"] for r in old["spec"]["resources"]] != [r["count"] for r in new["spec"]["resources"]]:
                seen["scaled"] += 1
            if old["status"].get("driver") != new["status"].get("driver"):
                seen["driver"] += 1
            billing = ("os.modelarts/billing.mode", "os.modelarts/order.id", "os.modelarts/auto.renew")
            if [old["metadata"]["annotations"].get(k) for k in billing] != [
                    new["metadata"]["annotations"].get(k) for k in billing]:
                seen["billing"] += 1
            if old["status"].get("resources", {}).get("abnormal") != new["status"].get("resources", {}).get(
                    "abnormal"):
                seen["abnormal"] += 1
        before = after
    assert phases == set(PHASES)
    for kind in ("created", "deleted", "scaled", "driver", "billing", "abnormal"):
        assert seen[kind] >= 12, (kind, seen)
    kinds = collections.Counter(c.kind for c in fleet.changes)
    for kind in ("created", "deleted", "scaled_up", "scaled_down", "driver_upgrade_started", "driver_upgraded",
                 "billing_changed", "auto_renew_changed", "nodes_abnormal", "nodes_recovered"):
        assert kinds[kind] >= 5, (kind, kinds)
    assert 30 <= len(all_docs(fleet)) <= 80, "the fleet stays around its initial size"


def test_deleting_pools_linger_then_disappear():
    fleet = Fleet(7, 10, 5)
    deleting = {d["metadata"]["name"] for d in all_docs(fleet) if d["status"]["phase"] == "Deleting"}
    for _ in range(6):
        fleet.advance(hours=1)
        for doc in all_docs(fleet):
            if doc["status"]["phase"] == "Deleting":
                assert list(doc["status"]["resources"]) == ["deleting"]
    assert deleting and not deleting & {d["metadata"]["name"] for d in all_docs(fleet)}


def test_driver_upgrade_goes_through_upgrading():
    fleet = Fleet(7, 10, 5)
    upgrading = []
    for _ in range(24):
        fleet.advance(hours=1)
        for doc in all_docs(fleet):
            for kind, d in doc["status"].get("driver", {}).items():
                if d["state"] == "Upgrading":
                    wanted = doc["spec"]["driver"][f"{kind}Version"]
                    assert wanted != d["version"]
                    upgrading.append(doc["metadata"]["name"])
    assert upgrading


def test_bulk_generator_is_the_fleet_generator():
    fleet = Fleet(5, 4, 7)
    assert list(generate_pools(28, 5, pools_per_project=7)) == all_docs(fleet)
    chunks = list(generate_pools_jsonl(300, 9, pools_per_project=40))
    assert len(chunks) == 8 and all(chunk.endswith(b"\n") for chunk in chunks)
    lines = b"".join(chunks).splitlines()
    assert [json.loads(line) for line in lines] == list(generate_pools(300, 9, pools_per_project=40))
    assert b"".join(generate_pools_jsonl(300, 9, pools_per_project=40, processes=2)) == b"".join(chunks)
    assert len(list(generate_pools(101, 9, pools_per_project=50))) == 101


def test_nodes_follow_pool_counts():
    fleet = Fleet(7, 3, 6)
    for p in fleet.projects:
        for doc in fleet.pools(p.id):
            nodes = fleet.nodes(p.id, doc["metadata"]["name"])
            counts = collections.Counter()
            for e in (x for v in doc["status"].get("resources", {}).values() for x in entries(v)):
                counts[e["flavor"]] += e["count"]
            assert collections.Counter(n["spec"]["flavor"] for n in nodes) == counts
            assert len({n["metadata"]["name"] for n in nodes}) == len(nodes)
    assert fleet.nodes(fleet.projects[0].id, "pool-missing") is None


def test_flavor_catalog_documents():
    fleet = Fleet(7, 1, 1)
    docs = fleet.flavors(fleet.projects[0].id)
    assert {d["metadata"]["name"] for d in docs} == set(FLAVORS)
    ant8 = next(d for d in docs if d["metadata"]["name"] == "modelarts.vm.gpu.ant8")
    assert ant8["spec"]["gpu"]["card"] == "8" and ant8["spec"]["memory"].endswith("Gi")
    assert set(ant8["status"]["phase"]) == {"cn-north-4a", "cn-north-4b", "cn-north-4c", "cn-north-4g"}
    assert set(ant8["status"]["phase"].values()) == {"normal", "soldout"}
    npu = next(d for d in docs if d["metadata"]["name"] == "modelarts.bm.npu.arm.8snt9b3.d")
    assert npu["spec"]["npu"]["type"] == "ascend-snt9b3" and npu["spec"]["cpuArch"] == "arm64"
