"""Compaction: one file per table and day, committed atomically, and every query answers the same before and after.

The lake comes from the real path (simulator -> run_snapshot) over three simulated days, with failed and
forbidden projects so that every table, the history and the reports have rows of every kind.
"""

import os
import re
import shutil
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from lakekit import query_catalog
from pipeline.assets.maintenance import compaction_definitions
from pipeline.assets.resources import resources_for
from pipeline.config import load_config
from pipeline.lake.compaction import CompactionError, compact, compact_lake, plan_days
from pipeline.history.full import build_history
from pipeline.lake.layout import Layout
from pipeline.reports.tables import REPORTS, report_arrow
from pipeline.lake.store import (
    LakeBusyError, collect_garbage, live_files, read_day_records, read_manifests, writer_lock,
)
from pipeline.modelarts import AkSkCredentials
from pipeline.simulator import SimulatorConfig, run_simulator
from pipeline.flow import renormalize, run_snapshot

AK, SK = "AKCOMPACTIONTEST0001", "compaction-test-sk-0123456789abcdefghij"
START = datetime(2026, 11, 1, 18, tzinfo=timezone.utc)


def snapshot_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "lake").glob("*/snapshot_day=*/*.parquet"))


def canonical(row) -> str:
    """A row as comparable text. Floats to 12 significant digits: a parallel sum adds in whatever order its
    threads finish, so the last bits of an aggregate differ between any two runs, compacted or not."""
    if isinstance(row, dict):
        return repr({k: canonical(v) for k, v in row.items()})
    if isinstance(row, (tuple, list)):
        return repr([canonical(v) for v in row])
    if isinstance(row, float):
        return f"{row:.12g}"
    return repr(row)


def all_answers(catalog: Path, work: Path) -> dict:
    """What an analyst can ask: every view's rows (as sorted multisets), the history recomputed from the
    snapshot tables, and every report over the whole range. Read from another process's point of view:
    a fresh connection to the file as it is now."""
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        views = [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()]
        out = {}
        for v in sorted(views):
            cols = [r[0] for r in con.execute(f'DESCRIBE "{v}"').fetchall()]
            rows = con.execute(f'SELECT * FROM "{v}"').fetchall()
            out[v] = (sorted(cols), sorted(canonical(dict(zip(cols, r))) for r in rows))
        out["_comments"] = sorted(con.execute(
            "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal").fetchall())
        hist = work / f"history-{len(list(work.glob('history-*')))}"
        hist.mkdir(parents=True)
        build_history(con, hist)
        for f in sorted(hist.glob("*.parquet")):
            t = duckdb.sql(f"SELECT * FROM read_parquet('{f}')").fetchall()
            out[f"history:{f.stem}"] = sorted(map(canonical, t))
        days = con.execute("SELECT min(snapshot_day), max(snapshot_day) FROM snapshots").fetchall()[0]
        for name in REPORTS:
            out[f"report:{name}"] = sorted(map(canonical, report_arrow(con, name, days[0], days[1]).to_pylist()))
    finally:
        con.close()
    return out


def fresh(catalog: Path, work: Path) -> dict:
    """all_answers in a child process: in this one DuckDB would hand back its cached instance of the path."""
    code = ("import pickle, sys; sys.path[:0] = sys.argv[3:]; from lake.test_compaction import all_answers; "
            "from pathlib import Path; sys.stdout.buffer.write(pickle.dumps(all_answers(Path(sys.argv[1]), "
            "Path(sys.argv[2]))))")
    tests = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code, str(catalog), str(work), str(tests), str(tests.parent)],
                         capture_output=True, check=True)
    import pickle
    return pickle.loads(out.stdout)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Three simulated days, a snapshot every 4 h; projects 2 and 3 are refused (403) now and then."""
    root = tmp_path_factory.mktemp("compaction")
    with run_simulator(SimulatorConfig(projects=4, pools_per_project=5, seed=7, ak=AK, sk=SK, start=START)) as sim:
        sim.write_config(root / "poolscope.yaml", storage_root="./data")
        config = load_config(root / "poolscope.yaml")
        creds = AkSkCredentials(AK, SK)
        for n in range(13):  # 18:00 day 1 .. 18:00 day 3
            if n % 4 == 1:
                sim.inject("forbidden", count=1, project_id=sim.projects[2].id)
            if n % 5 == 2:
                sim.inject("forbidden", count=1, project_id=sim.projects[3].id)
            run_snapshot(config, credentials=creds, snapshot_at=sim.fleet.now)
            sim.advance(hours=4)
    return root, config


@pytest.fixture
def lake(built, tmp_path):
    """A private copy of the built lake (tests change it)."""
    src_root, config = built
    root = tmp_path / "lake"
    shutil.copytree(src_root, root, symlinks=True)
    config = load_config(root / "poolscope.yaml")
    layout = Layout(config.root)
    from pipeline.lake.commit import refresh_catalog
    refresh_catalog(layout)  # the copy's catalog must name the copy's files
    return root, config, layout


def test_every_query_answers_the_same_after_compaction(lake, tmp_path):
    root, config, layout = lake
    before = fresh(layout.catalog, tmp_path / "w1")
    files_before = len(snapshot_files(config.root))
    # the lake has what the comparison must cover: failed fetches, pools, changes, every report
    assert any(canonical({"outcome": "error"})[1:-1] in r for r in before["fetches"][1]) and before["pools"][1]
    assert before["history:pool_changes"] and all(before[f"report:{n}"] for n in REPORTS)
    with writer_lock(layout):
        result = compact(layout, include_latest=True)
    days = sorted({m.snapshot_id[:8] for m in read_manifests(layout)})
    assert [d.replace("-", "") for d in result.days] == days  # all three days, the latest included
    after = fresh(layout.catalog, tmp_path / "w2")
    assert after.keys() == before.keys()
    for key in before:
        assert after[key] == before[key], key
    # One file per table and day is what the catalog now reads; the snapshot files wait out the grace period.
    records = read_day_records(layout)
    assert [r.day for r in records] == result.days
    for r in records:
        assert set(r.snapshots) == {m.snapshot_id for m in read_manifests(layout)
                                    if m.snapshot_id.startswith(r.day.replace("-", ""))}
    assert len(snapshot_files(config.root)) == files_before + result.files_after
    with writer_lock(layout):
        collect_garbage(layout, grace_s=0)
    tables = {p.parent.parent.name for p in snapshot_files(config.root)}
    assert len(snapshot_files(config.root)) == sum(len(r.tables) for r in records) <= len(tables) * 3
    assert all(p.name.startswith("day_") for p in snapshot_files(config.root))
    assert fresh(layout.catalog, tmp_path / "w3") == before


def test_compacting_twice_changes_nothing_and_the_latest_day_waits(lake):
    root, config, layout = lake
    first = compact_lake(layout)
    assert len(first.days) == 2  # the latest day is still receiving snapshots
    records = {r.day: r.write_id for r in read_day_records(layout)}
    again = compact_lake(layout)
    assert again.days == [] and sorted(again.skipped) == sorted(records)
    assert {r.day: r.write_id for r in read_day_records(layout)} == records  # nothing rewritten
    assert [p.day for p in plan_days(layout) if p.needed] == []


def test_a_snapshot_taken_or_rerun_after_compaction_reads_right(lake, tmp_path):
    """A re-run of a compacted snapshot (renormalize writes a new write id) and a late snapshot in a compacted
    day: the catalog shows each snapshot's rows once, from the right write; compacting again folds them in."""
    root, config, layout = lake
    compact_lake(layout, include_latest=True)
    rerun = read_manifests(layout)[4].snapshot_id
    renormalize(config, [rerun])
    with run_simulator(SimulatorConfig(projects=4, pools_per_project=5, seed=7, ak=AK, sk=SK, start=START)) as sim:
        sim.write_config(root / "late.yaml", storage_root="./data")
        late_at = datetime(2026, 11, 2, 1, 30, tzinfo=timezone.utc)
        late = run_snapshot(load_config(root / "late.yaml"), credentials=AkSkCredentials(AK, SK),
                            snapshot_at=late_at)
    manifests = {m.snapshot_id: m for m in read_manifests(layout)}
    for sid in (rerun, late.snapshot_id, read_manifests(layout)[0].snapshot_id):
        for table in ("pools", "fetches", "snapshots"):
            got = query_catalog(layout.catalog, f"SELECT count(*) FROM {table} WHERE snapshot_id = '{sid}'")[0][0]
            assert got == manifests[sid].tables[table]["rows"], (sid, table)
    # The re-run's stale rows are filtered out of its day's compacted file.
    assert f"snapshot_id IN ('{rerun}')" in query_catalog(
        layout.catalog, "SELECT sql FROM duckdb_views() WHERE view_name = 'pools'")[0][0]
    before = fresh(layout.catalog, tmp_path / "w1")
    result = compact_lake(layout, include_latest=True)
    assert sorted(result.days) == sorted({rerun[:4] + "-" + rerun[4:6] + "-" + rerun[6:8], "2026-11-02"})
    assert "snapshot_id IN" not in query_catalog(layout.catalog, "SELECT sql FROM duckdb_views() WHERE view_name = 'pools'")[0][0]
    assert fresh(layout.catalog, tmp_path / "w2") == before


def test_a_failed_compaction_commits_nothing_and_the_next_one_cleans_up(lake, tmp_path, monkeypatch):
    root, config, layout = lake
    before = fresh(layout.catalog, tmp_path / "w1")
    import pipeline.lake.store as store

    real_replace = os.replace

    def crash_on_record(src, dst):
        if "/_days/" in str(dst):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(store.os, "replace", crash_on_record)
    with pytest.raises(OSError):
        compact_lake(layout, include_latest=True)
    monkeypatch.setattr(store.os, "replace", real_replace)
    assert read_day_records(layout) == []
    orphans = [p for p in snapshot_files(config.root) if p.name.startswith("day_")]
    assert orphans  # moved into place, but never referenced
    assert fresh(layout.catalog, tmp_path / "w2") == before
    result = compact_lake(layout, include_latest=True, grace_s=0)
    assert result.garbage["table_files"] >= len(orphans)
    assert not any(p.exists() for p in orphans)
    assert not list(layout.tmp.iterdir()) and not list(layout.day_records.glob(".*.tmp"))
    assert fresh(layout.catalog, tmp_path / "w3") == before


def catalog_files(catalog: Path) -> set[str]:
    """Every snapshot-table Parquet path the catalog's views name (not the history's or the reports')."""
    sqls = query_catalog(catalog, "SELECT sql FROM duckdb_views() WHERE NOT internal")
    return {p for (sql,) in sqls for p in re.findall(r"'(/[^']+\.parquet)'", sql) if "/snapshot_day=" in p}


def test_a_catalog_left_stale_by_a_crash_is_replaced_before_its_files_go(lake, tmp_path, monkeypatch):
    """A crash between a day's commit and the catalog rebuild leaves a catalog naming the replaced snapshot
    files. The next run must put a fresh catalog in place before garbage collection removes them."""
    root, config, layout = lake
    before = fresh(layout.catalog, tmp_path / "w1")
    import pipeline.lake.compaction as compaction

    def crash(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(compaction, "build_catalog", crash)
    with pytest.raises(OSError):
        compact_lake(layout, include_latest=True)
    monkeypatch.undo()
    assert read_day_records(layout)  # committed, but the catalog still names the snapshot files
    stale = catalog_files(layout.catalog)
    assert stale and all(Path(p).name[0].isdigit() for p in stale)
    real_gc = compaction.collect_garbage

    def gc_checking_the_catalog(layout_, grace_s):
        named = catalog_files(layout_.catalog)
        live = {str(f.path.resolve()) for files in live_files(layout_).values() for f in files}
        assert named <= live, "garbage collection would remove files the current catalog names"
        return real_gc(layout_, grace_s)

    monkeypatch.setattr(compaction, "collect_garbage", gc_checking_the_catalog)
    result = compact_lake(layout, include_latest=True, grace_s=0)
    assert result.days == [] and result.garbage["table_files"] >= len(stale)
    assert fresh(layout.catalog, tmp_path / "w2") == before


def test_a_short_compacted_file_is_refused(lake, monkeypatch):
    """The row-count check before commit: a file that lost rows on the way is never committed."""
    root, config, layout = lake
    import pipeline.lake.compaction as compaction

    real = compaction._rows_in
    monkeypatch.setattr(compaction, "_rows_in", lambda con, path: real(con, path) - 1)
    with pytest.raises(CompactionError, match="nothing committed"):
        compact_lake(layout, include_latest=True)
    assert read_day_records(layout) == []


def test_dagster_compacts_one_day_partition(lake, tmp_path):
    root, config, layout = lake
    before = fresh(layout.catalog, tmp_path / "w1")
    asset, job, schedule = compaction_definitions(date(2026, 11, 1))
    resources = resources_for(str(root / "poolscope.yaml"))
    result = dg.materialize([asset], resources=resources, partition_key="2026-11-02")
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["compacted"].value is True and meta["files_after"].value < meta["files_before"].value
    assert [r.day for r in read_day_records(layout)] == ["2026-11-02"]
    assert fresh(layout.catalog, tmp_path / "w2") == before
    again = dg.materialize([asset], resources=resources, partition_key="2026-11-02")
    meta = again.get_asset_materialization_events()[0].materialization.metadata
    assert meta["compacted"].value is False


def test_cli_compact(lake):
    root, config, layout = lake
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    run = subprocess.run([sys.executable, "-m", "pipeline.cli", "compact", "--config", str(root / "poolscope.yaml")],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("compacted 2 day(s)")
    bad = subprocess.run([sys.executable, "-m", "pipeline.cli", "compact", "--config", str(root / "poolscope.yaml"),
                          "--day", "2026-13-01"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "not a day" in bad.stderr and "Traceback" not in bad.stderr
    with writer_lock(layout):
        busy = subprocess.run([sys.executable, "-m", "pipeline.cli", "compact", "--config",
                               str(root / "poolscope.yaml")], capture_output=True, text=True, env=env)
    assert busy.returncode == 1 and "another poolscope process" in busy.stderr


def test_compaction_waits_for_the_writer_lock(lake):
    root, config, layout = lake
    with writer_lock(layout):
        with pytest.raises(LakeBusyError):
            compact_lake(layout, lock_wait_s=0)
