"""Hostile list bodies: an invalid UTF-8 byte in one pool, millions of empty items. Each body is landed as a file,
bytes exactly as a server could send them, and normalized; rows are read back from the Parquet files."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from normalize.test_normalize import Run, pool
from clikit import python_with_peak_rss
from lakekit import pool_doc

ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # as the API sends them
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def run(tmp_path) -> Run:
    return Run(tmp_path)


def listing(docs: list[dict]) -> bytes:
    return ENCODE({"apiVersion": "v2", "kind": "PoolList", "items": docs}).encode("utf-8")


def fleet(n: int) -> list[dict]:
    return [pool_doc(f"pool-{i:03d}", requested={"modelarts.vm.gpu.t4": 2}, available={"modelarts.vm.gpu.t4": 2},
                     annotations={"os.modelarts/description": f"training pool {i} — 训练"}) for i in range(n)]


# ------------------------------------------------------------------------------------------- invalid UTF-8

def test_one_invalid_byte_in_one_pool_rejects_only_that_pool(run):
    body = listing(fleet(20))
    at = body.index("training pool 7 ".encode())
    run.body(body[:at] + b"training \xff pool 7 " + body[at + len("training pool 7 "):])  # one byte, in a string
    run.run()
    assert sorted(r["pool_id"] for r in run.rows("pools")) == [f"pool-{i:03d}" for i in range(20) if i != 7]
    assert len(run.rows("pool_capacity")) == 19 and len(run.rows("pool_labels")) == 19 * 2
    (rej,) = run.rows("rejected_documents")
    assert (rej["item_index"], rej["reason"], rej["severity"], rej["documents"]) == (
        7, "item is not valid UTF-8 text", "error", 1)
    assert rej["excerpt"].startswith('{"apiVersion":"v2","kind":"Pool","metadata":{"name":"pool-007"')
    assert len(rej["excerpt"]) == 200


@pytest.mark.parametrize("bad", [b"\xff", b"\xc3", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                                 b"\xe2\x82"])
def test_any_invalid_sequence_in_items_rejects_those_items(run, bad):
    docs = fleet(6)
    body = listing(docs)
    for name in (b"pool-001", b"pool-004"):  # in a value, and in a key
        at = body.index(name)
        body = body[:at + 4] + bad + body[at + 4:]
    at = body.index(b'"os.modelarts/description"', body.index(b"pool-004"))
    body = body[:at + 3] + bad + body[at + 3:]
    run.body(body)
    run.body(b'{"items":[' + body[body.index(b"[") + 1:body.index(b',{"apiVersion"')] + b"]}", project="p2")
    run.run()
    assert sorted(r["pool_id"] for r in run.rows("pools", "project_id = 'p1'")) == [
        "pool-000", "pool-002", "pool-003", "pool-005"]
    assert [(r["item_index"], r["reason"]) for r in run.rows("rejected_documents", "project_id = 'p1'",
                                                             order="item_index")] == [
        (1, "item is not valid UTF-8 text"), (4, "item is not valid UTF-8 text")]
    assert [r["pool_id"] for r in run.rows("pools", "project_id = 'p2'")] == ["pool-000"]


def test_invalid_bytes_that_break_the_json_reject_the_body(run):
    run.body(b'{"items":[{"metadata":{"name":"pool-a"}},\xff{"metadata":{"name":"pool-b"}}]}')  # between items
    run.body(b'{"items":[{"metadata":{"name":"pool-c"}}]}\xff', project="p2")                  # after the body
    run.body(b'{"metadata":{"name":"pool-\xffd"}}', source="show_pool", project="p3")           # one document
    run.body(b'{"items":[], "kind":"Pool\xffList"}', project="p4")                             # no item concerned
    run.pools(pool("pool-e"), project="p5")
    run.run()
    assert [r["pool_id"] for r in run.rows("pools")] == ["pool-e"]
    got = {r["project_id"]: (r["item_index"], r["reason"]) for r in run.rows("rejected_documents")}
    assert got == {"p1": (None, "body is not valid UTF-8 text"), "p2": (None, "body is not valid UTF-8 text"),
                   "p3": (None, "body is not valid UTF-8 text")}


# ------------------------------------------------------------------------------------------- huge item lists

def test_rejected_rows_are_capped_per_body_and_reason(run):
    items = [{}] * 250 + [3] * 120 + [pool("pool-ok")] + [{"metadata": {"name": "pool-ok"}}] * 2
    run.pools(*items)  # 373 items: a usual body
    run.pools(*([{}] * 1500 + [pool("pool-big")] + ["x"] * 5), project="p2")  # more than 1000 items: "huge"
    counts = run.run()
    assert sorted(r["pool_id"] for r in run.rows("pools")) == ["pool-big", "pool-ok"]
    rows = run.rows("rejected_documents", order="project_id, reason, item_index NULLS LAST")
    assert counts["rejected_documents"] == len(rows) == (101 + 101 + 2) + (101 + 5)
    by = {}
    for r in rows:
        by.setdefault((r["project_id"], r["reason"]), []).append((r["item_index"], r["documents"]))
    assert by[("p1", "pool has no metadata.name")] == [(i, 1) for i in range(100)] + [(None, 150)]
    assert by[("p1", "item is not an object")] == [(i, 1) for i in range(250, 350)] + [(None, 20)]
    assert by[("p1", "duplicate pool id in snapshot")] == [(371, 1), (372, 1)]
    assert by[("p2", "pool has no metadata.name")] == [(i, 1) for i in range(100)] + [(None, 1400)]
    assert by[("p2", "item is not an object")] == [(i, 1) for i in range(1501, 1506)]
    summary = [r for r in rows if r["documents"] > 1]
    assert {r["excerpt"] for r in summary} == {
        f"{n} more documents of this body with this reason, not listed one by one" for n in (150, 20, 1400)}
    assert all(r["severity"] == "error" and r["response_id"] for r in rows)
    assert sum(r["documents"] for r in rows) == 373 - 1 + 1506 - 1


def child_peak_rss(code: str) -> tuple[int, str]:
    """Run `code` in a fresh Python; (peak RSS of that child alone in MiB, stdout)."""
    proc, rss = python_with_peak_rss(["-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    return int(rss), proc.stdout


def test_two_million_empty_items_give_101_rows_and_flat_memory(tmp_path):
    body = tmp_path / "huge.body"
    body.write_bytes(b'{"items":[' + b",".join([b"{}"] * 2_000_000) + b"]}")  # 6 MB
    out = tmp_path / "out"
    rss, printed = child_peak_rss(textwrap.dedent(f"""
        import json, os
        from datetime import datetime, timezone
        from pathlib import Path
        if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 2:
            os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])  # DuckDB's buffers grow with threads
        from pipeline.normalize.documents import BodyRef, normalize, rejected_count
        ref = BodyRef("20261128T060000Z", datetime(2026, 11, 28, 6, tzinfo=timezone.utc), "r", "p", "list_pools",
                      {str(body)!r}, "resp")
        counts = normalize([ref], Path({str(out)!r}))
        print(json.dumps([counts["rejected_documents"], rejected_count(Path({str(out)!r}))]))
    """))
    assert json.loads(printed) == [101, 2_000_000]  # 100 listed one by one, 1 summary row; all counted
    # Measured on 2 cores: 318 MiB (DuckDB's json_extract of 2 million items alone takes about 150 MiB);
    # before the cap, 793 MiB (and 3.4 GiB for 10 million items).
    assert rss < 550, f"peak RSS {rss} MiB"
