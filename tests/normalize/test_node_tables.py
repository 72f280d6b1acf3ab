"""nodes and node_resources from ListPoolNodes pages, checked by hand."""

import duckdb
import pytest

from lakekit import pool_doc, publish_snapshot, reject_rows, utc

AT = utc(2026, 11, 1, 10)
GIB, MIB = 2**30, 2**20

NODE_A = {  # a GPU node, every field the reference documents, mixed spellings
    "kind": "Node", "apiVersion": "v2",
    "metadata": {"name": "os-node-created-aaaaa", "creationTimestamp": "2026-10-01T08:00:00Z",
                 "labels": {"os.modelarts/billing.status": "1", "os.modelarts.node/nodepool": "np-1",
                            "os.modelarts.node/cluster": "cce-1", "os.modelarts.node/elastic.quota": "pool-sub",
                            "os.modelarts.node/underlying.instance.id": "i-123",
                            "os.modelarts.node/ha.redundant.enabled": "false"},
                 "annotations": {"os.modelarts.node/drain": "draining"}},
    "spec": {"flavor": "modelarts.vm.gpu.ant8", "os": {"name": "spec-os"}},
    "status": {"phase": "Available", "az": "cn-north-4a", "privateIp": "192.168.0.5",
               "resources": {"cpu": 96, "memory": "736Gi", "nvidia.com/gpu": "8"},
               "availableResources": {"cpu": "1073m", "memory": "15548Mi", "nvidia.com/gpu": 2},
               "driver": {"phase": "Running", "version": "535.54.03"}, "os": {"name": "EulerOS 2.10"},
               "plugins": [{"name": "gpu-device-plugin", "phase": "Abnormal", "version": "1.0"},
                           {"name": "agent", "phase": "Running", "version": "2.0"}],
               "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
}
NODE_B = {  # an NPU node still being created: no availableResources, no driver, spec.os only, odd values
    "metadata": {"name": "os-node-created-bbbbb", "creationTimestamp": "garbage",
                 "labels": {"os.modelarts/billing.status": "7", "os.modelarts.node/nodepoolname": "np-2"}},
    "spec": {"flavor": "modelarts.vm.npu.snt9b.8", "os": {"name": "spec-os"},
             "extendParams": {"nodePoolName": "np-x"}},
    "status": {"phase": "Creating", "az": {"not": "text"},
               "resources": {"cpu": "192", "memory": "1536Gi", "huawei.com/ascend-snt9": "8", "bad": "lots"},
               "plugins": [], "taints": [{"effect": "PreferNoSchedule"}]},
}
NODE_C = {  # sparse: a name only, and a label given as a number
    "metadata": {"name": "os-node-created-ccccc", "labels": {"os.modelarts/billing.status": 2}},
    "status": {"resources": {"cpu": "4"}, "availableResources": {"memory": "1Gi"}},
}
PAGE_1 = {"apiVersion": "v2", "kind": "NodeList", "metadata": {"continue": "tok"},
          "items": [NODE_A, "not a node", {"metadata": {}}, {"metadata": {"name": ""}}, NODE_B]}
PAGE_2 = {"metadata": {}, "items": [dict(NODE_A, status={"phase": "Abnormal"}), NODE_C]}  # NODE_A again


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    root = tmp_path_factory.mktemp("nodes")
    publish_snapshot(
        root, AT,
        {("r1", "p1"): [pool_doc("pool-a", available={"f1": 1}), pool_doc("pool-b", available={"f1": 1}),
                        pool_doc("pool-c", available={"f1": 1}), pool_doc("pool-d", available={"f1": 1})]},
        per_pool={("pool_nodes", "r1", "p1", "pool-a"): [PAGE_1, PAGE_2],
                  ("pool_nodes", "r1", "p1", "pool-b"): [b'{"items": [ {"metadata": '],   # cut short
                  ("pool_nodes", "r1", "p1", "pool-c"): [503],                           # failed call
                  ("pool_nodes", "r1", "p1", "pool-d"): [{"items": {"not": "a list"}}, {"items": [NODE_C]}]})
    c = duckdb.connect(str(root / "inventory.duckdb"), read_only=True)
    yield c
    c.close()


def test_nodes_read_every_field_and_keep_the_first_listing(con):
    rows = con.execute(
        "SELECT pool_id, node_name, phase, az, flavor, private_ip, billing_status, billing_status_raw, driver_phase, "
        "driver_version, os_name, plugins_not_running, created_at, nodepool, elastic_quota, cluster, instance_id, "
        "ha_redundant, drain, unschedulable, snapshot_id FROM nodes ORDER BY pool_id, node_name").fetchall()
    by = {(r[0], r[1]): r for r in rows}
    assert sorted(by) == [("pool-a", "os-node-created-aaaaa"), ("pool-a", "os-node-created-bbbbb"),
                          ("pool-a", "os-node-created-ccccc"), ("pool-d", "os-node-created-ccccc")]
    a = by[("pool-a", "os-node-created-aaaaa")]
    assert a[2:12] == ("Available", "cn-north-4a", "modelarts.vm.gpu.ant8", "192.168.0.5", "frozen", "1", "Running",
                       "535.54.03", "EulerOS 2.10", 1)   # the first listing, not the repeated Abnormal one
    assert str(a[12]).startswith("2026-10-01 08:00:00")
    assert a[13:20] == ("np-1", "pool-sub", "cce-1", "i-123", False, "draining", True)
    assert a[20] == "20261101T100000Z"
    b = by[("pool-a", "os-node-created-bbbbb")]
    # an unknown billing value is no status but kept raw; an AZ that is not text is NULL; spec.os as fallback
    assert b[2:12] == ("Creating", None, "modelarts.vm.npu.snt9b.8", None, None, "7", None, None, "spec-os", 0)
    assert b[12] is None and b[13] == "np-2" and b[17] is None and b[19] is False   # PreferNoSchedule: schedulable
    c = by[("pool-a", "os-node-created-ccccc")]
    assert c[2:12] == (None, None, None, None, "deleted", "2", None, None, None, None)
    assert c[19] is None  # no taints given: unknown
    plugins, taints = con.execute("SELECT plugins, taints FROM nodes WHERE node_name = 'os-node-created-aaaaa' "
                                  "AND pool_id = 'pool-a'").fetchone()
    assert '"gpu-device-plugin"' in plugins and '"NoSchedule"' in taints


def test_node_resources_from_mixed_quantities(con):
    rows = con.execute("SELECT pool_id, node_name, resource, unit, capacity, available, allocated, capacity_raw, "
                       "available_raw FROM node_resources ORDER BY ALL").fetchall()
    got = {(r[0], r[1][-5:], r[2]): r[3:] for r in rows}
    assert got == {
        ("pool-a", "aaaaa", "cpu"): ("cores", 96.0, 1.073, pytest.approx(94.927), "96", "1073m"),
        ("pool-a", "aaaaa", "memory"): ("bytes", 736.0 * GIB, 15548.0 * MIB, 736.0 * GIB - 15548 * MIB,
                                        "736Gi", "15548Mi"),
        ("pool-a", "aaaaa", "nvidia.com/gpu"): ("cards", 8.0, 2.0, 6.0, "8", "2"),
        # still creating: no availableResources, so nothing is known to be allocated
        ("pool-a", "bbbbb", "cpu"): ("cores", 192.0, None, None, "192", None),
        ("pool-a", "bbbbb", "memory"): ("bytes", 1536.0 * GIB, None, None, "1536Gi", None),
        ("pool-a", "bbbbb", "huawei.com/ascend-snt9"): ("cards", 8.0, None, None, "8", None),
        ("pool-a", "bbbbb", "bad"): ("cards", None, None, None, "lots", None),
        # a key on one side only
        ("pool-a", "ccccc", "cpu"): ("cores", 4.0, None, None, "4", None),
        ("pool-a", "ccccc", "memory"): ("bytes", None, 1.0 * GIB, None, None, "1Gi"),
        ("pool-d", "ccccc", "cpu"): ("cores", 4.0, None, None, "4", None),
        ("pool-d", "ccccc", "memory"): ("bytes", None, 1.0 * GIB, None, None, "1Gi"),
    }


def test_tables_are_documented_in_the_catalog(con):
    for table in ("nodes", "node_resources"):
        cols = con.execute("SELECT column_name, comment FROM duckdb_columns() WHERE table_name = ?",
                           [table]).fetchall()
        assert cols and all(comment for _, comment in cols), table


def test_what_the_node_tables_skip_is_listed_for_rejected_documents():
    rows = reject_rows("node_pages", [("pool-a", PAGE_1), ("pool-a", PAGE_2), ("pool-b", b'{"items": [ {"metadata": '),
                                   ("pool-d", {"items": {"not": "a list"}}), ("pool-d", {"items": [NODE_C]})])
    assert [(r[2], r[4], r[5]) for r in rows] == [
        ("pool-a", 1, "item has no metadata.name"), ("pool-a", 1, "item has no metadata.name"),
        ("pool-a", 1, "item is not an object"),
        ("pool-b", 3, "body is not valid JSON"), ("pool-d", 4, "body has no items array")]


def test_packed_and_unpacked_pages_read_alike_across_packs(tmp_path, monkeypatch):
    """The same nodes whether their page was packed (one line of a family pack, packs rotated every two lines
    here) or kept its own file (a pretty-printed page has newlines, a pack line cannot hold it)."""
    import json

    monkeypatch.setattr("pipeline.land.landing.PACK_MAX_BYTES", 1)  # every pack holds one line
    pools = [f"pool-{i}" for i in range(5)]
    node = {"metadata": {"name": "os-node-x"}, "status": {"phase": "Available", "resources": {"cpu": "4"}}}
    pages = {("pool_nodes", "r1", "p1", p): [{"items": [dict(node, metadata={"name": f"os-node-{p}"})]}]
             for p in pools}
    pages[("pool_nodes", "r1", "p1", "pool-2")] = [json.dumps({"items": [
        dict(node, metadata={"name": "os-node-pool-2"})]}, indent=2).encode()]
    publish_snapshot(tmp_path, AT, {("r1", "p1"): [pool_doc(p, available={"f1": 1}) for p in pools]},
                     per_pool=pages)
    c = duckdb.connect(str(tmp_path / "inventory.duckdb"), read_only=True)
    try:
        assert c.execute("SELECT pool_id, node_name, phase FROM nodes ORDER BY 1").fetchall() == [
            (p, f"os-node-{p}", "Available") for p in pools]
        files = c.execute("SELECT pool_id, raw_file, raw_offset, raw_bytes FROM fetches WHERE call = 'pool_nodes' "
                          "ORDER BY pool_id").fetchall()
    finally:
        c.close()
    assert [f[1].rsplit("/", 1)[1] for f in files] == [
        "pool_nodes-0001.pack", "pool_nodes-0002.pack", f"{files[2][1].rsplit('/', 1)[1]}",
        "pool_nodes-0003.pack", "pool_nodes-0004.pack"]
    assert files[2][1].endswith(".body") and files[2][2:] == (None, None)
    for pool_id, raw_file, offset, size in files:
        if offset is not None:  # the body's bytes, where fetches says they are
            with open(tmp_path / raw_file, "rb") as fh:
                fh.seek(offset)
                assert json.loads(fh.read(size))["items"][0]["metadata"]["name"] == f"os-node-{pool_id}"
