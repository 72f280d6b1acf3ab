"""The Delta commit protocol (pipeline/lake/delta.py), on a local disk and on a real S3 server (SeaweedFS):
a snapshot is visible whole or not at all, a re-run replaces what it re-ran in one commit, a crashed write is
never seen and is swept only after the grace period, compaction keeps every visible row once, and writers of
different snapshots and a compaction running at the same time lose and duplicate nothing."""

import multiprocessing
from datetime import date

import pyarrow as pa
import pytest

from pipeline.lake.delta import SNAPSHOTS, DeltaLake, visible_select
from pipeline.lake.storage import storage_for
from s3kit import seaweed

DAY = "2026-12-01"


@pytest.fixture(params=["local", "s3"])
def lake_spec(request, tmp_path):
    """(storage.root, storage.s3, environment) for a lake on each storage."""
    if request.param == "local":
        yield str(tmp_path / "root"), None, {}
        return
    with seaweed(tmp_path) as s3:
        yield (f"s3://{s3.bucket}/poolscope", {"endpoint": s3.endpoint, "region": s3.region},
               {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key})


def _lake(spec, **kw) -> DeltaLake:
    root, s3, env = spec
    return DeltaLake(storage_for(root, s3, environ=env), env, **kw)


def _rows(snapshot_id: str, n: int, tag: str = "") -> pa.Table:
    return pa.table({"snapshot_id": [snapshot_id] * n, "region": ["cn-north-4"] * n,
                     "pool_id": [f"pool-{i}{tag}" for i in range(n)], "nodes": list(range(n))})


def _snapshot_row(snapshot_id: str, status: str = "complete") -> pa.Table:
    return pa.table({"snapshot_id": [snapshot_id], "region": pa.array([None], pa.string()), "status": [status]})


def _commit(lake: DeltaLake, sid: str, wid: str, pools: int, labels: int, tag: str = ""):
    return lake.commit_snapshot(sid, wid, {"pools": _rows(sid, pools, tag), "pool_labels": _rows(sid, labels, tag)},
                                _snapshot_row(sid))


def _visible(lake: DeltaLake, table: str) -> list[tuple]:
    """What a reader sees, the way the catalog reads it: snapshots first, then the table's files."""
    con = lake.connect()
    try:
        snaps = lake.files(SNAPSHOTS)
        files = lake.files(table)
        if not snaps or not files:
            return []
        con.execute("CREATE TEMP TABLE current AS SELECT snapshot_id, write_id FROM read_parquet("
                    f"[{', '.join(repr(f) for f in snaps)}])")
        return con.sql(f"SELECT snapshot_id, pool_id FROM ({visible_select(files, 'current')}) ORDER BY ALL").fetchall()
    finally:
        con.close()


def test_a_snapshot_is_seen_whole_and_a_rerun_replaces_it_in_one_commit(lake_spec):
    lake = _lake(lake_spec)
    first = _commit(lake, "20261201T100000Z", "w1", pools=3, labels=2)
    assert first.rows == {"pools": 3, "pool_labels": 2, SNAPSHOTS: 1} and first.replaced is None
    _commit(lake, "20261201T110000Z", "w2", pools=1, labels=1)
    assert [r for r in _visible(lake, "pools") if r[0] == "20261201T100000Z"] == [
        ("20261201T100000Z", f"pool-{i}") for i in range(3)]

    rerun = _commit(lake, "20261201T100000Z", "w3", pools=2, labels=0, tag="b")
    assert rerun.replaced == "w1"
    assert lake.current_writes() == {"20261201T100000Z": "w3", "20261201T110000Z": "w2"}
    assert _visible(lake, "pools") == [("20261201T100000Z", "pool-0b"), ("20261201T100000Z", "pool-1b"),
                                       ("20261201T110000Z", "pool-0")]
    # the re-run wrote no labels: none of the replaced write's show either
    assert _visible(lake, "pool_labels") == [("20261201T110000Z", "pool-0")]
    # the replaced rows are still in the files (a reader may hold them) until the grace has passed
    assert lake.sweep() == {}
    assert lake.sweep(grace_s=0) == {"pools": 3, "pool_labels": 2}
    assert lake.sweep(grace_s=0) == {}
    assert _visible(lake, "pools")[:2] == [("20261201T100000Z", "pool-0b"), ("20261201T100000Z", "pool-1b")]
    assert sorted(lake.tables()) == ["pool_labels", "pools", SNAPSHOTS]


def test_a_crashed_write_is_never_seen_and_is_swept_only_after_the_grace(lake_spec):
    lake = _lake(lake_spec)
    _commit(lake, "20261201T100000Z", "w1", pools=2, labels=1)
    # a run that appended its rows and died before its snapshots row (the commit point)
    lake.append("pools", _rows("20261201T120000Z", 4), "20261201T120000Z", "crash")
    lake.append("pools", _rows("20261201T100000Z", 5, "x"), "20261201T100000Z", "crash2")  # a re-run that died
    assert _visible(lake, "pools") == [("20261201T100000Z", "pool-0"), ("20261201T100000Z", "pool-1")]
    assert lake.sweep() == {}  # it could be a write still in flight
    assert lake.sweep(grace_s=0) == {"pools": 9}
    assert lake.open("pools").to_pyarrow_table().num_rows == 2


def test_compaction_keeps_every_visible_row_once_and_vacuum_frees_the_old_files(lake_spec):
    lake = _lake(lake_spec, grace_s=0)
    for hour in range(6):
        _commit(lake, f"20261201T{hour:02d}0000Z", f"w{hour}", pools=3, labels=1)
    _commit(lake, "20261201T020000Z", "again", pools=1, labels=1, tag="r")  # a re-run before compaction
    before = _visible(lake, "pools")
    assert len(lake.files("pools")) == 7
    removed = lake.optimize(DAY)
    assert removed["pools"] == 6  # the replaced write's file was swept, the rest merged into one
    assert len(lake.files("pools")) == 1 and _visible(lake, "pools") == before == sorted(before)
    assert len(before) == 5 * 3 + 1
    # a re-run after compaction: its rows are appended, the compacted file's stale rows hidden, then swept
    _commit(lake, "20261201T030000Z", "late", pools=2, labels=0, tag="l")
    assert [r for r in _visible(lake, "pools") if r[0] == "20261201T030000Z"] == [
        ("20261201T030000Z", "pool-0l"), ("20261201T030000Z", "pool-1l")]
    assert lake.sweep() == {"pools": 3, "pool_labels": 1}
    assert lake.vacuum()["pools"] >= 7
    assert len(_visible(lake, "pools")) == 4 * 3 + 1 + 2


def _writer(spec, hours: list[int], tag: str, out) -> None:
    try:
        lake = _lake(spec)
        for h in hours:
            sid = f"20261201T{h:02d}0000Z"
            _commit(lake, sid, f"{tag}{h}", pools=4, labels=2, tag=tag)
        out.put((tag, "ok"))
    except BaseException as exc:  # reported to the test
        out.put((tag, repr(exc)))


def _compactor(spec, rounds: int, out) -> None:
    try:
        lake = _lake(spec)  # the default grace: the writers' rows in flight are not a crashed write's
        for _ in range(rounds):
            lake.optimize(DAY)
        out.put(("compactor", "ok"))
    except BaseException as exc:
        out.put(("compactor", repr(exc)))


def test_two_writers_and_a_compaction_at_once_lose_and_duplicate_nothing(lake_spec):
    """What two region partitions and the daily compaction do at the same moment: separate processes, each
    with its own commits, racing on the same day's partition of every table."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(lake_spec, list(range(0, 12, 2)), "a", out)),
             ctx.Process(target=_writer, args=(lake_spec, list(range(1, 12, 2)), "b", out)),
             ctx.Process(target=_compactor, args=(lake_spec, 4, out))]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=240) for _ in procs)
    for p in procs:
        p.join(60)
    assert results == {"a": "ok", "b": "ok", "compactor": "ok"}
    lake = _lake(lake_spec)
    assert sorted(lake.current_writes()) == [f"20261201T{h:02d}0000Z" for h in range(12)]
    pools = _visible(lake, "pools")
    assert len(pools) == len(set(pools)) == 12 * 4
    assert len(_visible(lake, "pool_labels")) == 12 * 2
    # nothing invisible was left either: every row in the files is a visible one
    assert lake.open("pools").to_pyarrow_table().num_rows == 12 * 4


def test_a_bucket_read_through_the_mirror_answers_as_the_bucket_and_fetches_each_file_once(tmp_path):
    """pipeline/lake/mirror.py: local copies of a bucket lake's data files, fetched once, dropped when a
    compaction replaces them; the catalog's sources over the copies answer as they do over the bucket."""
    import duckdb

    from pipeline.catalog.views import delta_sources
    from pipeline.lake.mirror import Mirror

    with seaweed(tmp_path) as s3:
        env = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}
        lake = DeltaLake(storage_for(f"s3://{s3.bucket}/m", {"endpoint": s3.endpoint, "region": s3.region},
                                     environ=env), env, grace_s=0)
        for hour in range(4):
            _commit(lake, f"20261201T{hour:02d}0000Z", f"w{hour}", pools=3, labels=2)
        _commit(lake, "20261201T010000Z", "again", pools=1, labels=0)  # a re-run: replaced rows stay in the files

        def answers(con, sources) -> list:
            return con.sql(" UNION ALL ".join(
                f"SELECT '{t}' AS t, snapshot_id, snapshot_day, count(*) FROM ({sources[t]}) GROUP BY ALL"
                for t in ("pools", "pool_labels", SNAPSHOTS)) + " ORDER BY ALL").fetchall()

        con = lake.connect()  # the bucket itself, through the registered S3 filesystem
        want = answers(con, delta_sources(lake))
        con.close()
        assert ("pools", "20261201T010000Z", date(2026, 12, 1), 1) in want
        assert not any(r[0] == "pool_labels" and r[1] == "20261201T010000Z" for r in want)

        folder = tmp_path / "mirror"
        mirror = Mirror(lake, folder)
        local = duckdb.connect()
        assert answers(local, delta_sources(lake, mirror.files)) == want
        assert mirror.fetched == sum(len(lake.files(t)) for t in lake.tables()) > 0
        assert all(p.startswith(str(folder)) for t in lake.tables() for p in mirror.files(t))
        again = Mirror(lake, folder)
        assert answers(local, delta_sources(lake, again.files)) == want
        assert again.fetched == 0  # every copy is still good

        lake.optimize(DAY)  # sweeps the replaced write, rewrites the day: one file per table
        after = Mirror(lake, folder)
        assert answers(local, delta_sources(lake, after.files)) == want
        assert after.fetched == len(lake.tables())
        copies = sorted(p.relative_to(folder).parts[0] for p in folder.rglob("*.parquet"))
        assert copies == sorted(lake.tables())  # the replaced files' copies are gone, one per table is left
        local.close()


def test_marks_tell_the_next_run_when_there_are_rows_to_sweep(lake_spec):
    """A write marks itself in lake/_pending/ until its snapshots row is committed, and marks the write it
    replaced: each run's cleanup lists the marks and sweeps only when one is older than the grace period."""
    lake = _lake(lake_spec)
    _commit(lake, "20261201T010000Z", "w1", 3, 2)
    assert lake.pending(grace_s=0) == []  # a committed write leaves no mark
    _commit(lake, "20261201T010000Z", "w2", 3, 2, tag="b")  # a re-run: w1's rows wait to be swept
    assert lake.pending(grace_s=0) == ["20261201T010000Z-w2.replaced"]
    # A write that dies between its rows and its snapshots row (what commit_snapshot does, up to the crash):
    lake._mark("20261201T020000Z-w3.write")
    lake.append("pools", _rows("20261201T020000Z", 4), "20261201T020000Z", "w3")
    assert lake.pending(grace_s=0) == ["20261201T010000Z-w2.replaced", "20261201T020000Z-w3.write"]
    assert lake.pending() == []  # younger than the grace period: nothing to sweep yet (a write may be in flight)
    marks = lake.pending(grace_s=0)
    assert lake.sweep(grace_s=0) == {"pools": 3 + 4, "pool_labels": 2}
    lake.clear_pending(marks)
    assert lake.pending(grace_s=0) == []
    assert _visible(lake, "pools") == [("20261201T010000Z", f"pool-{i}b") for i in range(3)]
