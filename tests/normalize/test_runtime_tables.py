"""pool_allocation and pool_workload_counts from ShowPoolRuntimeMetrics answers, checked by hand."""

import duckdb
import pytest

from lakekit import pool_doc, publish_snapshot, utc

AT = utc(2026, 11, 1, 10)
ITEM_A = {
    "metadata": {"name": "pool-a", "labels": {}},
    "table": {
        # mixed spellings, as the service sends them; keys with dots and slashes
        "capacity": {"value": {"cpu": 96, "memory": "736Gi", "nvidia.com/gpu": 8},
                     "timestamp": "2026-11-01T09:59:00Z", "window": "1m"},
        "allocated": {"value": {"cpu": "24500m", "memory": "15548Mi", "nvidia.com/gpu": "6"},
                      "timestamp": "2026-11-01T09:59:00Z", "window": "1m"},
        "available": {"value": {"cpu": "71.5", "memory": "1e3", "nvidia.com/gpu": 2}},
        "workload": {"allocated": {"train": 3, "infer": "1", "sum": 4}, "queue": {"train": 2, "sum": 2}},
    },
}
ITEM_B = {"metadata": {"name": "pool-b"},
          "table": {"capacity": {"value": {"cpu": "lots", "huawei.com/ascend-1980": 16}},
                    "workload": {"allocated": {"notebook": -1}}}}


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    root = tmp_path_factory.mktemp("runtime")
    answer = {"apiVersion": "v2", "kind": "PoolMetricsList", "items": [ITEM_A, ITEM_B, "not an item", {"table": {}}]}
    publish_snapshot(root, AT, {("r1", "p1"): [pool_doc("pool-a", available={"f1": 1})],
                                ("r1", "p2"): [pool_doc("pool-c", available={"f1": 1})]},
                     runtime={("r1", "p1"): answer, ("r1", "p2"): b'{"items": [ {"metadata": '})
    c = duckdb.connect(str(root / "inventory.duckdb"), read_only=True)
    yield c
    c.close()


def test_quantities_are_normalized_with_the_text_kept(con):
    rows = con.execute("SELECT pool_id, resource, unit, capacity, allocated, available, capacity_raw, allocated_raw, "
                       "measured_at, \"window\" FROM pool_allocation ORDER BY pool_id, resource").fetchall()
    a = {r[1]: r for r in rows if r[0] == "pool-a"}
    assert a["cpu"][2:6] == ("cores", 96.0, 24.5, 71.5)                        # 24500m = 24.5 cores
    assert a["memory"][2:6] == ("bytes", 736 * 2**30, 15548 * 2**20, 1000.0)    # 736Gi, 15548Mi, 1e3
    assert a["nvidia.com/gpu"][2:6] == ("cards", 8.0, 6.0, 2.0)
    assert (a["cpu"][6], a["cpu"][7]) == ("96", "24500m")
    assert str(a["cpu"][8]) .startswith("2026-11-01 09:59:00") and a["cpu"][9] == "1m"
    b = {r[1]: r for r in rows if r[0] == "pool-b"}
    # a quantity that is not one is NULL, its text kept; a side the answer lacks is NULL
    assert b["cpu"][3] is None and b["cpu"][6] == "lots"
    assert b["huawei.com/ascend-1980"][2:6] == ("cards", 16.0, None, None)
    assert {r[0] for r in rows} == {"pool-a", "pool-b"}      # items without a name, and the cut answer: no rows


def test_workload_counts_per_type_without_the_sum(con):
    rows = con.execute("SELECT pool_id, workload_type, running, queued FROM pool_workload_counts "
                       "ORDER BY pool_id, workload_type").fetchall()
    assert rows == [("pool-a", "infer", 1, None), ("pool-a", "train", 3, 2), ("pool-b", "notebook", None, None)]


def test_what_the_tables_skip_is_in_rejected_documents(con):
    """The cut answer of p2 and the two unreadable items of p1 are recorded (with the response they came from), and
    count in the snapshot's rejected_documents; the pools' tables are untouched by them."""
    rows = con.execute(
        "SELECT project_id, source, item_index, reason, severity, documents, excerpt, response_id IS NOT NULL "
        "FROM rejected_documents ORDER BY project_id, item_index").fetchall()
    assert rows == [
        ("p1", "runtime_metrics", 2, "item is not an object", "error", 1, '"not an item"', True),
        ("p1", "runtime_metrics", 3, "item has no metadata.name", "error", 1, '{"table":{}}', True),
        ("p2", "runtime_metrics", None, "body is not valid JSON", "error", 1, '{"items": [ {"metadata": ', True),
    ]
    assert con.execute("SELECT rejected_documents FROM snapshots").fetchall() == [(3,)]
