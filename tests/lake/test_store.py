"""Commit protocol and catalog: atomic visibility, idempotent re-runs, readers never blocked, one writer."""

import json
import os
import multiprocessing
import subprocess
import sys
from datetime import datetime, timezone

import duckdb
import pyarrow as pa
import pytest

from pipeline.catalog.views import TableDoc, build_catalog
from pipeline.land.landing import Attempt, RawLanding, TargetRef
from pipeline.lake.layout import Layout, new_write_id, snapshot_at_of, snapshot_id_for
from pipeline.lake.store import LakeBusyError, collect_garbage, commit, read_manifests, writer_lock

DOCS = {"things": TableDoc("things", "test table", {"snapshot_id": "which snapshot", "n": "a number"})}


def write_snapshot(layout: Layout, sid: str, values: list[int]) -> None:
    wid = new_write_id()
    landing = RawLanding(layout, sid, snapshot_at_of(sid))
    raw = landing.seal({"targets": 0})
    tmp = layout.tmp / f"t-{wid}.parquet"
    snap = layout.tmp / f"s-{wid}.parquet"
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT '{sid}' AS snapshot_id, unnest(?::INTEGER[]) AS n) TO '{tmp}' (FORMAT parquet)",
        [values],
    )
    con.execute(f"COPY (SELECT '{sid}' AS snapshot_id, 'complete' AS status) TO '{snap}' (FORMAT parquet)")
    commit(layout, snapshot_id=sid, write_id=wid, snapshot_at=snapshot_at_of(sid), status="complete",
           raw_dir=raw, table_files={"things": tmp, "snapshots": snap}, rows={"things": len(values)})
    build_catalog(layout, DOCS)


def test_reader_keeps_its_view_while_snapshots_commit_and_new_readers_see_them(tmp_path):
    layout = Layout(tmp_path / "store")
    write_snapshot(layout, "20261128T060000Z", [1, 2])
    reader = duckdb.connect(str(layout.catalog), read_only=True)
    assert reader.execute("SELECT count(*) FROM things").fetchone()[0] == 2
    write_snapshot(layout, "20261128T070000Z", [3, 4, 5])  # no lock error although the reader is open
    assert reader.execute("SELECT count(*) FROM things").fetchone()[0] == 2  # old, complete state
    # A new reader is another process (in this one, DuckDB would hand back the cached open instance).
    out = subprocess.run(
        [sys.executable, "-c", (
            "import duckdb, json, sys; c = duckdb.connect(sys.argv[1], read_only=True); print(json.dumps(["
            "c.execute('SELECT count(*) FROM things').fetchone()[0],"
            "c.execute(\"SELECT comment FROM duckdb_views() WHERE view_name = 'things'\").fetchone()[0],"
            "dict(c.execute(\"SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'things'\").fetchall())]))"
        ), str(layout.catalog)],
        capture_output=True, text=True, check=True, cwd="/",
    )
    count, comment, cols = json.loads(out.stdout)
    assert count == 5
    assert comment == "test table"
    assert cols["n"] == "a number"
    reader.close()


def test_rerunning_a_snapshot_id_replaces_it_and_gc_removes_old_files(tmp_path, monkeypatch):
    layout = Layout(tmp_path / "store")
    write_snapshot(layout, "20261128T060000Z", [1, 2])
    first = read_manifests(layout)[0].write_id
    write_snapshot(layout, "20261128T060000Z", [7])
    con = duckdb.connect(str(layout.catalog), read_only=True)
    assert con.execute("SELECT list(n) FROM things").fetchone()[0] == [7]
    con.close()
    files = list((layout.lake / "things").glob("*/*.parquet"))
    assert len(files) == 2  # the replaced write's file waits out the grace period
    with writer_lock(layout):
        assert collect_garbage(layout, grace_s=3600) == {"tmp": 0, "rows": 0, "table_files": 0}
        removed = collect_garbage(layout, grace_s=0)
    assert removed["rows"] == 2  # the replaced write's rows, swept
    assert removed["table_files"] >= 2  # its things file, and the snapshots row's replaced file
    assert len(list((layout.lake / "things").glob("*/*.parquet"))) == 1
    [m] = read_manifests(layout)
    assert m.snapshot_id == "20261128T060000Z" and m.write_id != first and m.tables["things"] == {"rows": 1}


def test_uncommitted_files_and_tmp_debris_are_invisible_then_cleaned(tmp_path):
    layout = Layout(tmp_path / "store")
    write_snapshot(layout, "20261128T060000Z", [1])
    # A crashed run: its rows appended to the table but no snapshots row, plus _tmp debris.
    layout.tables().append("things", pa.table({"snapshot_id": ["20261128T070000Z"], "n": [9]}),
                           "20261128T070000Z", "deadbeef")
    (layout.tmp / "raw-20261128T070000Z-deadbeef-p999999999").mkdir(parents=True)
    (layout.tmp / f"raw-20261128T080000Z-cafecafe-p{os.getppid()}").mkdir(parents=True)  # a live writer
    build_catalog(layout, DOCS)
    con = duckdb.connect(str(layout.catalog), read_only=True)
    assert con.execute("SELECT count(*) FROM things").fetchone()[0] == 1
    con.close()
    assert len(list((layout.lake / "things").glob("*/*.parquet"))) == 2
    with writer_lock(layout):
        removed = collect_garbage(layout, grace_s=0)
    assert removed == {"tmp": 1, "rows": 1, "table_files": 1}
    assert len(list((layout.lake / "things").glob("*/*.parquet"))) == 1
    assert (layout.tmp / f"raw-20261128T080000Z-cafecafe-p{os.getppid()}").is_dir()


def _hold_lock(root, ready, release):
    with writer_lock(Layout(root)):
        ready.set()
        release.wait(10)


def test_second_writer_gets_a_clear_message(tmp_path):
    layout = Layout(tmp_path / "store")
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(layout.root, ready, release))
    holder.start()
    try:
        assert ready.wait(20)
        with pytest.raises(LakeBusyError, match=rf"pid {holder.pid}\) is writing to"):
            with writer_lock(layout, wait_s=0.3):
                pass
    finally:
        release.set()
        holder.join(10)
    with writer_lock(layout, wait_s=1):
        pass


def test_landing_masks_credentials_and_seals_atomically(tmp_path):
    layout = Layout(tmp_path / "store")
    sid = snapshot_id_for(datetime(2026, 11, 28, 6, tzinfo=timezone.utc))
    landing = RawLanding(layout, sid, snapshot_at_of(sid), secrets=["AKCANARY0123456789XY", "sk-short", None])
    now = datetime.now(timezone.utc)
    body = b'{"error_msg":"Get secretKey failed,ak:AKCANARY0123456789XY,err:ak not exist","error_code":"APIGW.0301"}'
    rec = landing.record(
        call="list_pools", target=TargetRef("cn-north-4", "p1", "http://127.0.0.1:1"), pool_id=None,
        method="GET", path="/v2/p1/pools", query="", outcome="error", error_msg="x",
        attempts=[Attempt(1, now, 3.0, 401, "http_401", "APIGW.0301", "r1", body)],
    )
    assert rec.attempts == 1 and rec.http_status == 401
    assert list(layout.raw.iterdir()) == []  # nothing visible before sealing
    final = landing.seal({"targets": 1})
    landed = (final / rec.body_file).read_bytes()
    assert b"AKCANARY0123456789XY" not in landed and b"ak:***,err" in landed
    lines = [json.loads(x) for x in (final / "responses.jsonl").read_text().splitlines()]
    assert lines[0]["http_status"] == 401 and lines[0]["final"] is True
    assert json.loads((final / "run.json").read_text())["snapshot_id"] == sid
    assert list(layout.tmp.iterdir()) == []
