"""Counts that are not counts: a document whose node count (or sub-pool count) is NaN, Infinity, 1e99999, -1e30,
1e30, 2.5, "12abc", negative, too large, true, an object... is rejected with the field named; its neighbours are
read; no count column ever holds NULL or a value outside 0..2^31-1, and the check counts_in_range says so.

Bodies are written as raw JSON text: NaN, Infinity and 1e99999 are not something json.dumps writes on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from normalize.test_normalize import Run, pool
from pipeline.catalog.views import quote_ident, quote_literal
from pipeline.check.checks import CHECKS
from pipeline.catalog.docs import SQL_ROOT

COUNT_COLUMNS = {
    "pool_resources": ("count", "max_count"),
    "pool_resource_azs": ("count",),
    "pool_capacity": ("count", "max_count"),
    "pool_capacity_azs": ("count",),
    "pools": ("subpools_count",),
}
BAD = ["NaN", "Infinity", "-Infinity", "1e99999", "-1e30", "1e30", "2.5", "3.0", "1e2", '"12abc"', '"2.5"', '""',
       "-1", '"-1"', "2147483648", '"99999999999"', "true", "{}", "[1]", '"NaN"']
# (field named in the reason, a document template with @ where the value goes)
PLACES = [
    ("spec.resources[].count", {"spec": {"resources": [{"flavor": "f", "count": "@"}]}}),
    ("spec.resources[].maxCount", {"spec": {"resources": [{"flavor": "f", "count": 1, "maxCount": "@"}]}}),
    ("spec.resources[].azs[].count",
     {"spec": {"resources": [{"flavor": "f", "count": 1, "azs": [{"az": "a", "count": 1}, {"az": "b", "count": "@"}]}]}}),
    ("status.resources.available[].count", {"status": {"resources": {"available": [{"flavor": "f", "count": "@"}]}}}),
    ("status.resources.creating[].maxCount",
     {"status": {"resources": {"creating": {"flavor": "f", "count": 1, "maxCount": "@"}}}}),  # the SDK's shape
    ("status.resources.deleting[].azs[].count",
     {"status": {"resources": {"deleting": [{"flavor": "f", "count": 1, "azs": [{"az": "a", "count": "@"}]}]}}}),
    ('metadata.annotations."os.modelarts.pool/subpools.count"',
     {"metadata": {"annotations": {"os.modelarts.pool/subpools.count": "@"}}}),
]


@pytest.fixture
def run(tmp_path) -> Run:
    return Run(tmp_path)


def doc_text(name: str, template: dict, value: str) -> str:
    doc = json.loads(json.dumps(template))
    doc.setdefault("metadata", {})["name"] = name
    return json.dumps(doc).replace('"@"', value)


def check_rows(files: dict[str, Path], name: str) -> list[dict]:
    """The rows that check `name` (sql/checks/<name>.sql) returns on these table files: none when it passes.
    (run_checks runs every check, some of them on tables normalize does not write: fetches, snapshots.)"""
    con = duckdb.connect()
    try:
        for table, path in files.items():
            con.execute(f"CREATE VIEW {quote_ident(table)} AS SELECT * FROM read_parquet({quote_literal(str(path))})")
        cur = con.execute((SQL_ROOT / "checks" / f"{name}.sql").read_text(encoding="utf-8"))
        return [dict(zip([d[0] for d in cur.description], row)) for row in cur.fetchall()]
    finally:
        con.close()


def counts_in_range(run: Run) -> list[dict]:
    return check_rows({p.stem: p for p in Path(run.out).glob("*.parquet")}, "counts_in_range")


@pytest.mark.parametrize("field, template", PLACES, ids=[p[0] for p in PLACES])
def test_a_bad_count_rejects_its_document_and_names_the_field(run, field, template):
    items = [doc_text("pool-before", template, "1")]
    items += [doc_text(f"pool-bad-{i}", template, value) for i, value in enumerate(BAD)]
    items += [doc_text("pool-after", template, "2")]
    run.body('{"apiVersion":"v2","kind":"PoolList","items":[' + ",".join(items) + "]}")
    run.body(doc_text("pool-shown", template, " NaN "), source="show_pool", project="p2")
    run.run()
    assert [r["pool_id"] for r in run.rows("pools", order="pool_id")] == ["pool-after", "pool-before"]
    reason = f"invalid count at {field}: not an integer in 0..2147483647"
    got = [(r["item_index"], r["pool_id"], r["reason"], r["severity"]) for r in
           run.rows("rejected_documents", "project_id = 'p1'", order="item_index")]
    assert got == [(i + 1, f"pool-bad-{i}", reason, "error") for i in range(len(BAD))]
    shown = run.rows("rejected_documents", "project_id = 'p2'")
    assert [(r["pool_id"], r["reason"]) for r in shown] == [("pool-shown", reason)]
    for table, columns in COUNT_COLUMNS.items():
        for column in columns:
            bad = run.rows(table, f"{column} IS NULL OR {column} < 0 OR {column} > 2147483647")
            assert bad == [], (table, column)
    assert counts_in_range(run) == []


def test_good_counts_absent_null_and_strings(run):
    run.body('{"items":[' + ",".join([
        doc_text("pool-a", {"spec": {"resources": [{"flavor": "f", "count": "@", "maxCount": " 7 ",
                                                    "azs": [{"az": "a"}, {"az": "b", "count": None}]}]},
                            "status": {"resources": {"available": [{"flavor": "f", "count": "+2", "maxCount": None,
                                                                    "azs": [{"az": "a", "count": "-0"}]}],
                                                     "abnormal": {"flavor": "f"}}}}, "2147483647"),
        doc_text("pool-b", {"metadata": {"annotations": {"os.modelarts.pool/subpools.count": "@"}},
                            "spec": {"resources": [{"flavor": "f", "count": None}]}}, '"3"'),
        # spelled with blanks and a \\u escape: only a show_pool body keeps that text (list items are rewritten)
    ]) + "]}")
    run.body('{"metadata" : {"name":"pool-c"}, "spec": {"resources": [{"flavor": "f", "count" :  4, '
             '"maxCount": "\\u0035"}]}}', source="show_pool")
    run.run()
    assert run.rows("rejected_documents") == []
    res = {(r["pool_id"], r["flavor"]): (r["count"], r["max_count"]) for r in run.rows("pool_resources")}
    assert res == {("pool-a", "f"): (2147483647, 7), ("pool-b", "f"): (0, 0), ("pool-c", "f"): (4, 5)}
    assert [(r["az"], r["count"]) for r in run.rows("pool_resource_azs", order="az")] == [("a", 0), ("b", 0)]
    cap = {(r["state"], r["count"], r["max_count"]) for r in run.rows("pool_capacity")}
    assert cap == {("available", 2, 2), ("abnormal", 0, 0)}
    assert [r["count"] for r in run.rows("pool_capacity_azs")] == [0]
    assert {r["pool_id"]: r["subpools_count"] for r in run.rows("pools")} == {"pool-a": 0, "pool-b": 3, "pool-c": 0}
    assert counts_in_range(run) == []


def test_a_key_ending_in_ount_that_is_not_a_count_rejects_nothing(run):
    # "amount", "discount" and dataVolumes' count match the cheap test; the exact one lets them through
    run.pools(pool("pool-x", metadata={"name": "pool-x", "labels": {"amount": "1.5"}},
                   spec={"resources": [{"flavor": "f", "count": 1, "discount": -3,
                                        "dataVolumes": [{"count": "NaN"}]}]}))
    run.run()
    assert [r["pool_id"] for r in run.rows("pools")] == ["pool-x"]
    assert run.rows("rejected_documents") == []


def test_counts_in_range_fails_on_a_null_or_negative_count(tmp_path):
    key = "'s' AS snapshot_id, now() AS snapshot_at, 'r' AS region, 'p' AS project_id, 'pool-1' AS pool_id"
    tables = {
        "pool_resources": "'f' AS flavor, NULL::INTEGER AS count, 3 AS max_count",
        "pool_capacity": "'available' AS state, 'f' AS flavor, -1 AS count, 0 AS max_count",
        "pool_resource_azs": "'f' AS flavor, 'a' AS az, 1 AS count",
        "pool_capacity_azs": "'available' AS state, 'f' AS flavor, 'a' AS az, 2147483647 AS count",
        "pools": "NULL::INTEGER AS subpools_count",
    }
    con = duckdb.connect()
    for table, columns in tables.items():
        con.execute(f"COPY (SELECT {key}, {columns}) TO '{tmp_path / table}.parquet'")
    con.close()
    rows = check_rows({t: tmp_path / f"{t}.parquet" for t in tables}, "counts_in_range")
    assert {(r["tbl"], r["col"], r["value"]) for r in rows} == {
        ("pool_resources", "count", None), ("pool_capacity", "count", -1), ("pools", "subpools_count", None)}
    assert "counts_in_range" in CHECKS
