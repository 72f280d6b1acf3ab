"""workload_statistics from ShowWorkloadStatistics answers in both roots, checked by hand."""

import duckdb
import pytest

from lakekit import pool_doc, publish_snapshot, reject_rows, utc

AT = utc(2026, 11, 1, 10)
SDK_SHAPE = {"statistics": {"total": 7, "items": [
    {"type": "train", "total": 5, "status": {"Queue": 1, "Pending": 0, "Running": 4, "Completed": 0}},
    {"type": "infer", "total": 2, "status": {"Running": 2, "Failed": -1, "Terminated": 2.5, "Creating": None}},
    {"type": "train", "total": 9, "status": {"Running": 9}},            # a type again: the first item counts
]}}
DOCS_SHAPE = {"statics": {"total": "4", "items": [
    {"type": "notebook", "total": "4", "status": {"Queue": "0", "Running": " 3 ", "Failed": "1", "Abnormal": "lots"}},
    {"type": "", "status": {"Running": "1"}},                             # no type
    {"type": "x-infer", "status": ["Running", 1]},                        # status not a map
    "garbage",
    {"status": {"Running": 1}},
]}}
BOTH = {"statics": {"items": [{"type": "train", "status": {"Running": "5"}}]},
        "statistics": {"items": [{"type": "train", "status": {"Running": 6}}]}}


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    root = tmp_path_factory.mktemp("workloads")
    pools = [pool_doc(f"pool-{c}", available={"f1": 1}) for c in "abcdefgh"]
    publish_snapshot(root, AT, {("r1", "p1"): pools}, per_pool={
        ("workload_statistics", "r1", "p1", "pool-a"): [SDK_SHAPE],
        ("workload_statistics", "r1", "p1", "pool-b"): [DOCS_SHAPE],
        ("workload_statistics", "r1", "p1", "pool-c"): [BOTH],
        ("workload_statistics", "r1", "p1", "pool-d"): [b'{"statistics": {"items": [{"type": '],  # cut short
        ("workload_statistics", "r1", "p1", "pool-e"): [{"stats": {"items": []}}],               # neither root
        ("workload_statistics", "r1", "p1", "pool-f"): [{"statistics": {"items": "none"}}],
        ("workload_statistics", "r1", "p1", "pool-g"): [500],                                     # failed call
        ("workload_statistics", "r1", "p1", "pool-h"): [["not", "an", "object"]],
    })
    c = duckdb.connect(str(root / "inventory.duckdb"), read_only=True)
    yield c
    c.close()


def test_both_roots_string_and_integer_counts(con):
    rows = con.execute('SELECT pool_id, type, status, "count", root FROM workload_statistics ORDER BY ALL').fetchall()
    assert rows == [
        ("pool-a", "infer", "Running", 2, "statistics"),     # -1, 2.5 and null are no counts: skipped
        ("pool-a", "train", "Completed", 0, "statistics"),
        ("pool-a", "train", "Pending", 0, "statistics"),
        ("pool-a", "train", "Queue", 1, "statistics"),
        ("pool-a", "train", "Running", 4, "statistics"),
        ("pool-b", "notebook", "Failed", 1, "statics"),      # the docs' shape: strings
        ("pool-b", "notebook", "Queue", 0, "statics"),
        ("pool-b", "notebook", "Running", 3, "statics"),
        ("pool-c", "train", "Running", 6, "statistics"),     # both roots: the SDK's one is read
    ]


def test_types_and_documentation(con):
    types = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                             "WHERE table_name = 'workload_statistics'").fetchall())
    assert types == {"snapshot_id": "VARCHAR", "snapshot_at": "TIMESTAMP WITH TIME ZONE", "region": "VARCHAR",
                     "project_id": "VARCHAR", "pool_id": "VARCHAR", "type": "VARCHAR", "status": "VARCHAR",
                     "count": "INTEGER", "root": "VARCHAR",
                     "snapshot_day": "DATE"}  # added by the catalog's views, as for every table
    comments = con.execute("SELECT comment FROM duckdb_columns() WHERE table_name = 'workload_statistics'").fetchall()
    assert all(c for (c,) in comments)


def test_what_the_table_skips_is_listed_for_rejected_documents():
    rows = reject_rows("workload_pages", [("pool-a", SDK_SHAPE), ("pool-b", DOCS_SHAPE), ("pool-c", BOTH),
                                       ("pool-d", b'{"statistics": {"items": [{"type": '),
                                       ("pool-e", {"stats": {"items": []}}), ("pool-f", {"statistics": {"items": "none"}}),
                                       ("pool-h", ["not", "an", "object"])])
    count, repeated, item = ("count is not a whole number >= 0", "workload type repeated (the first is kept)",
                             "item has no type or status map")
    assert sorted((r[2], r[5]) for r in rows) == sorted([
        ("pool-a", count), ("pool-a", count), ("pool-a", count),  # -1, 2.5, null
        ("pool-a", repeated),
        ("pool-b", count),                                        # "lots"
        ("pool-b", item), ("pool-b", item), ("pool-b", item), ("pool-b", item),
        ("pool-d", "body is not valid JSON"), ("pool-e", "body has no statistics or statics object"),
        ("pool-f", "body has no items array"), ("pool-h", "body has no statistics or statics object")])
    # only the counts and the repeat are warnings: the rest of those answers was read
    assert {r[5]: r[6] for r in rows}[count] == "warning" and {r[5]: r[6] for r in rows}[repeated] == "warning"
    assert {r[6] for r in rows if r[5] not in (count, repeated)} == {"error"}
