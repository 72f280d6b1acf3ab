"""pool_change_fields: one row per changed field, read by `field`, never through a JSON path. The field paths of
pool_changes' before/after hold raw flavors and label keys, dots and all, so before->>'$.a.b.c' reads a path that
does not exist and silently returns NULL (the trap this view removes).

The history below, by hand (project p1, region r1):
    S1 (00:00)  gpu "Training GPUs": 2 available modelarts.vm.gpu.t4 nodes (2 requested), labels
                team.io/owner=alpha and a.b"c[0]=x; old "Old pool": 5 available f1 nodes
    S2 (01:00)  gpu: 3 available (still 2 requested), team.io/owner=beta, a.b"c[0]=y; old gone (listing misses it,
                ShowPool answers 404)
so S2 has one update of gpu with exactly four changed fields (the available count, and its max_count, which is
the count when the API sends no maxCount; the two labels), and the deletion of old.
"""

import json
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from lakekit import pool_doc, publish_snapshot, utc
from pipeline.catalog.docs import parse_header, table_docs
from pipeline.catalog.views import build_catalog
from pipeline.history.store import read_record
from pipeline.lake.layout import Layout
from pipeline.lake.store import writer_lock
from pipeline.reports.days import refresh_history
from pipeline.sqlfiles import sql_text

README = Path(__file__).resolve().parents[2] / "README.md"
T1, T2 = utc(2026, 11, 1, 0), utc(2026, 11, 1, 1)
S1, S2 = "20261101T000000Z", "20261101T010000Z"
T4 = "modelarts.vm.gpu.t4"
COUNT = f"capacity.available.{T4}.count"
WEIRD = 'a.b"c[0]'  # a label key with a dot, a double quote and a bracket: the API allows any text


def gpu(available: int, owner: str, weird: str) -> dict:
    return pool_doc("gpu", display_name="Training GPUs", requested={T4: 2}, available={T4: available},
                    labels={"team.io/owner": owner, WEIRD: weird})


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fields")
    publish_snapshot(root, T1, {("r1", "p1"): [gpu(2, "alpha", "x"),
                                               pool_doc("old", display_name="Old pool", available={"f1": 5})]},
                     catalog=False)
    publish_snapshot(root, T2, {("r1", "p1"): [gpu(3, "beta", "y")]}, shows={("r1", "p1", "old"): 404},
                     catalog=False)
    refresh_history(Layout(root))  # folds both snapshots into the history, then builds the catalog
    return root / "inventory.duckdb"


def rows(db: Path, sql: str, *params) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_an_update_has_one_row_per_changed_field(catalog):
    got = rows(catalog, "SELECT field, before_text, after_text, before_number, after_number, display_name, "
                        "previous_snapshot_id FROM pool_change_fields WHERE change_type = 'updated' ORDER BY field")
    assert got == [
        (COUNT, "2", "3", 2.0, 3.0, "Training GPUs", S1),
        (f"capacity.available.{T4}.max_count", "2", "3", 2.0, 3.0, "Training GPUs", S1),  # maxCount absent: count
        (f'labels.{WEIRD}', "x", "y", None, None, "Training GPUs", S1),
        ("labels.team.io/owner", "alpha", "beta", None, None, "Training GPUs", S1),
    ]
    values = rows(catalog, "SELECT before_value::VARCHAR, after_value::VARCHAR FROM pool_change_fields "
                           "WHERE change_type = 'updated' AND field = ?", COUNT)
    assert values == [("2", "3")]


def test_the_changed_count_is_one_filter_away(catalog):
    assert rows(catalog, f"SELECT snapshot_id, pool_id, after_number FROM pool_change_fields "
                         f"WHERE field = '{COUNT}' AND change_type = 'updated'") == [(S2, "gpu", 3.0)]
    # The trap: on pool_changes the same question through a dotted path reads nothing, without an error.
    assert rows(catalog, f"SELECT after->>'$.{COUNT}' FROM pool_changes WHERE change_type = 'updated'") == [(None,)]


def test_created_and_deleted_rows_carry_the_whole_content_on_one_side(catalog):
    created = rows(catalog, "SELECT snapshot_id, display_name, before_value, after_number, previous_snapshot_id "
                            "FROM pool_change_fields WHERE change_type = 'created' AND pool_id = 'gpu' "
                            "AND field = ?", COUNT)
    assert created == [(S1, "Training GPUs", None, 2.0, None)]
    deleted = rows(catalog, "SELECT snapshot_id, display_name, before_number, after_value, previous_snapshot_id "
                            "FROM pool_change_fields WHERE change_type = 'deleted' "
                            "AND field = 'capacity.available.f1.count'")
    assert deleted == [(S2, "Old pool", 5.0, None, S1)]
    names = rows(catalog, "SELECT field, before_text FROM pool_change_fields WHERE change_type = 'deleted' "
                          "AND field IN ('display_name', 'phase', 'message') ORDER BY field")
    assert names == [("display_name", "Old pool"), ("message", None), ("phase", "Running")]
    # Exactly one row per entry of changed_fields, for every change.
    per_change = rows(catalog, """
        SELECT c.snapshot_id, c.pool_id, len(c.changed_fields), count(f.field), count(DISTINCT f.field),
               list_sort(c.changed_fields) = list_sort(list(f.field))
        FROM pool_changes AS c
        JOIN pool_change_fields AS f USING (snapshot_id, region, project_id, pool_id)
        GROUP BY c.snapshot_id, c.pool_id, c.changed_fields ORDER BY 1, 2""")
    assert [r[:2] for r in per_change] == [(S1, "gpu"), (S1, "old"), (S2, "gpu"), (S2, "old")]
    assert all(n == m == d and same for _, _, n, m, d, same in per_change), per_change


def test_display_name_on_pool_changes(catalog):
    got = rows(catalog, "SELECT snapshot_id, pool_id, change_type, display_name FROM pool_changes ORDER BY 1, 2")
    assert got == [(S1, "gpu", "created", "Training GPUs"), (S1, "old", "created", "Old pool"),
                   (S2, "gpu", "updated", "Training GPUs"), (S2, "old", "deleted", "Old pool")]


def _readme_query() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("**Reading a changed value: use `pool_change_fields`.**"):]
    return re.search(r"```sql\n(.*?)```", section, re.S).group(1)


def test_the_readme_query_reads_the_changed_count(catalog):
    query = _readme_query()
    assert "->>'$." not in query.replace(" ", "")
    got = rows(catalog, query)
    assert got == [(datetime(2026, 11, 1, 1, tzinfo=timezone.utc), "p1", "gpu", "Training GPUs", 2.0, 3.0)]


def test_columns_typed_and_documented_as_the_header_says(catalog):
    doc = parse_header(sql_text("catalog", "pool_change_fields"), "pool_change_fields")
    described = rows(catalog, "SELECT column_name, data_type, comment FROM duckdb_columns() "
                              "WHERE table_name = 'pool_change_fields' ORDER BY column_index")
    assert [r[0] for r in described] == list(doc.columns)
    spelled = {t: duckdb.sql(f"SELECT NULL::{t} AS x").types[0] for t in set(doc.types.values())}
    assert [r[1] for r in described] == [str(spelled[doc.types[c]]) for c in doc.columns]
    assert all(r[2] for r in described)
    comment = rows(catalog, "SELECT comment FROM duckdb_views() WHERE view_name = 'pool_change_fields'")
    assert "JSON path" in comment[0][0]


@pytest.mark.parametrize("key", ["a.b", 'x"y', "p[0]", 'q."r[1]', "end\\", 'bs\\"q', "t~i/l", "", "ü.ñ", "$.x",
                                 "*", "tab\tk"])
def test_any_key_reads_its_own_value(key):
    """The view over a hand-made pool_changes: keys a JSON path would misread (dots, quotes, brackets, a trailing
    backslash, the empty key, JSON pointer characters) each give their own value."""
    con = duckdb.connect()
    field = f"labels.{key}"
    before = json.dumps({field: "old", "labels.other": "same-before"})
    after = json.dumps({field: "new", "labels.other": "same-after"})
    con.execute("CREATE TABLE pool_changes AS SELECT 's2' AS snapshot_id, TIMESTAMPTZ '2026-11-01 01:00:00+00' "
                "AS snapshot_at, 'r1' AS region, 'p1' AS project_id, 'pool' AS pool_id, 'Pool' AS display_name, "
                "'updated' AS change_type, [$f, 'labels.other'] AS changed_fields, $b::JSON AS before, "
                "$a::JSON AS after, 's1' AS previous_snapshot_id", {"f": field, "b": before, "a": after})
    con.execute("INSERT INTO pool_changes SELECT 's2', TIMESTAMPTZ '2026-11-01 01:00:00+00', 'r1', 'p1', 'new', "
                "'New', 'created', [$f], NULL, $a::JSON, NULL", {"f": field, "a": json.dumps({field: "first"})})
    con.execute(f"CREATE VIEW pool_change_fields AS {sql_text('catalog', 'pool_change_fields')}")
    got = con.execute("SELECT pool_id, before_text, after_text FROM pool_change_fields WHERE field = $f "
                      "ORDER BY pool_id", {"f": field})
    assert got.fetchall() == [("new", None, "first"), ("pool", "old", "new")]


def test_a_history_written_before_display_name_still_builds_the_catalog(catalog, tmp_path):
    """A history record written by older rules (its files have no display_name) is only rebuilt at the next
    history update; the catalog built before that reads display_name as NULL instead of failing."""
    root = tmp_path / "lake"
    shutil.copytree(catalog.parent, root)  # the module's lake stays as it is for the other tests
    layout = Layout(root)
    record = read_record(layout)
    for path in record.files(root)["pool_changes"]:
        old = tmp_path / path.name
        duckdb.sql(f"COPY (SELECT * EXCLUDE (display_name) FROM read_parquet('{path}')) TO '{old}'")
        old.replace(path)
    with writer_lock(layout):
        build_catalog(layout, table_docs())
    got = rows(layout.catalog, f"SELECT display_name, after_number FROM pool_change_fields WHERE field = '{COUNT}' "
                        "AND change_type = 'updated'")
    assert got == [(None, 3.0)]
