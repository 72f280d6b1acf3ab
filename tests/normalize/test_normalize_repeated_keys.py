"""Repeated JSON keys ({"count": 1, "count": 5}) are read the way the official SDK reads them: the last value.

Before: DuckDB's reader kept the first value, silently. Now the landing flags the body
(pipeline.modelarts.repeated.has_repeated_keys), the normalizer reads the last value of every repeated key and
writes one warning row per document concerned; a warning is not a rejection.
"""

import json
from datetime import datetime, timezone

import duckdb
import pytest

from pipeline.normalize.documents import REPEATED_REASON, UNCHECKED_REASON, BodyRef, normalize, rejected_count
from pipeline.modelarts.repeated import has_repeated_keys, last_wins

SID = "20261128T060000Z"
AT = datetime(2026, 11, 28, 6, tzinfo=timezone.utc)


def doc(name: str, count: int) -> str:
    return json.dumps({"metadata": {"name": name, "labels": {"os.modelarts/name": name}},
                       "spec": {"type": "Dedicate", "resources": [{"flavor": "f1", "count": count}]},
                       "status": {"phase": "Running", "resources": {"available": [{"flavor": "f1", "count": count}]}}})


# pool-r repeats keys at three depths: the phase, a label, and the counts of its one spec and status entries.
REPEATING = ('{"metadata":{"name":"pool-r","labels":{"os.modelarts/name":"first","os.modelarts/name":"last"}},'
             '"spec":{"type":"Dedicate","resources":[{"flavor":"f1","count":1,"count":5}]},'
             '"status":{"phase":"Creating","phase":"Running",'
             '"resources":{"available":[{"flavor":"f1","count":1,"maxCount":1,"count":5,"maxCount":5}]}}}')
LIST_BODY = ('{"kind":"PoolList","items":[' + doc("pool-a", 2) + "," + REPEATING + "," + doc("pool-b", 3)
             + "]}").encode()
SHOW_BODY = ('{"metadata":{"name":"pool-s"},"metadata":{"name":"pool-t"},'
             '"spec":{"resources":[{"flavor":"f1","count":4}]}}').encode()


def rows(out, sql):
    con = duckdb.connect()
    try:
        for table in ("pools", "pool_resources", "pool_capacity", "pool_labels", "rejected_documents"):
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{out / (table + '.parquet')}')")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def refs(tmp_path, repeated=True):
    (tmp_path / "list.body").write_bytes(LIST_BODY)
    (tmp_path / "show.body").write_bytes(SHOW_BODY)
    return [BodyRef(SID, AT, "r", "p", "list_pools", str(tmp_path / "list.body"), "resp-list", repeated),
            BodyRef(SID, AT, "r", "p", "show_pool", str(tmp_path / "show.body"), "resp-show", repeated)]


def test_the_landing_check_flags_only_bodies_that_repeat_a_key():
    assert has_repeated_keys(LIST_BODY) is True and has_repeated_keys(SHOW_BODY) is True
    assert has_repeated_keys(("{\"items\":[" + doc("a", 1) + "]}").encode()) is False
    assert has_repeated_keys(b'{"a":{"x":1},"b":{"x":1}}') is False  # the same key in two objects is no repeat
    assert has_repeated_keys(b"[" * 5000 + b"]" * 5000) is None  # too deep for json: not checked
    assert has_repeated_keys(b'{"a":"\xff","a":1}') is True  # a byte that is not UTF-8 does not hide a repeat


def test_the_last_value_is_read_and_each_document_warned(tmp_path):
    out = tmp_path / "out"
    counts = normalize(refs(tmp_path), out)
    assert counts["pools"] == 4 and rejected_count(out) == 0  # warnings are not rejections
    assert rows(out, "SELECT pool_id, phase, display_name FROM pools ORDER BY 1") == [
        ("pool-a", "Running", "pool-a"), ("pool-b", "Running", "pool-b"), ("pool-r", "Running", "last"),
        ("pool-t", None, None)]
    assert rows(out, "SELECT pool_id, count, max_count FROM pool_resources ORDER BY 1") == [
        ("pool-a", 2, 2), ("pool-b", 3, 3), ("pool-r", 5, 5), ("pool-t", 4, 4)]
    assert rows(out, "SELECT pool_id, count, max_count FROM pool_capacity WHERE pool_id = 'pool-r'") == [
        ("pool-r", 5, 5)]
    assert rows(out, "SELECT value FROM pool_labels WHERE pool_id = 'pool-r'") == [("last",)]
    assert sorted(rows(out, "SELECT response_id, item_index, pool_id, reason, severity, documents, excerpt "
                            "FROM rejected_documents")) == [
        ("resp-list", 1, "pool-r", REPEATED_REASON, "warning", 1, "repeated: count, maxCount, os.modelarts/name, phase"),
        ("resp-show", None, "pool-t", REPEATED_REASON, "warning", 1, "repeated: metadata")]
    assert (tmp_path / "list.body").read_bytes() == LIST_BODY  # the landed bytes are never rewritten
    assert [p.name for p in out.iterdir() if not p.name.endswith(".parquet")] == []  # scratch removed


def test_an_unchecked_body_is_read_as_it_is_and_says_so(tmp_path):
    out = tmp_path / "out"
    normalize(refs(tmp_path, repeated=None), out)
    assert rows(out, "SELECT count FROM pool_resources WHERE pool_id = 'pool-r'") == [(1,)]  # DuckDB: the first
    assert sorted(rows(out, "SELECT response_id, item_index, reason, severity FROM rejected_documents")) == [
        ("resp-list", None, UNCHECKED_REASON, "warning"), ("resp-show", None, UNCHECKED_REASON, "warning")]
    assert rejected_count(out) == 0


def test_an_unflagged_body_is_not_looked_into(tmp_path):
    """The default: what the landing found no repeat in is read by the SQL alone (first value, no row)."""
    out = tmp_path / "out"
    normalize(refs(tmp_path, repeated=False), out)
    assert rows(out, "SELECT count FROM pool_resources WHERE pool_id = 'pool-r'") == [(1,)]
    assert rows(out, "SELECT count(*) FROM rejected_documents") == [(0,)]


@pytest.mark.parametrize("body, kept", [
    (b'{"items":[{"metadata":{"name":"x","name":"y"},"spec":{"resources":[{"count":1e99999}]}}]}', "1e99999"),
    (b'{"items":[{"metadata":{"name":"x","name":"y"},"spec":{"resources":[{"count":NaN}]}}]}', "NaN"),
])
def test_a_rewritten_body_keeps_numbers_that_are_not_integers_as_text(body, kept):
    text, found = last_wins(body, list_body=True)
    assert json.loads(text)["items"][0]["spec"]["resources"][0]["count"] == kept  # still rejected as a count
    assert [(f.item_index, f.pool_id, f.keys) for f in found] == [(0, "y", ("name",))]


def test_a_byte_that_is_not_utf8_survives_the_rewrite(tmp_path):
    body = b'{"items":[{"metadata":{"name":"bad","name":"bad2"},"x":"\xff"},{"metadata":{"name":"ok"}}]}'
    (tmp_path / "b.body").write_bytes(body)
    out = tmp_path / "out"
    normalize([BodyRef(SID, AT, "r", "p", "list_pools", str(tmp_path / "b.body"), "resp", True)], out)
    assert rows(out, "SELECT pool_id FROM pools") == [("ok",)]
    assert sorted(rows(out, "SELECT item_index, reason, severity FROM rejected_documents")) == [
        (0, "item is not valid UTF-8 text", "error"), (0, REPEATED_REASON, "warning")]
