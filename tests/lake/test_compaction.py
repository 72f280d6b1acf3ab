"""Compaction (Delta optimize): one file per table and day, each table's commit atomic, and every query answers the
same before and after.

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
from pipeline.lake.compaction import CompactionError, compact, compact_lake, day_files
from pipeline.history.full import build_history
from pipeline.lake.layout import Layout
from pipeline.reports.tables import REPORTS, report_arrow
from pipeline.lake.store import LakeBusyError, collect_garbage, read_manifests, writer_lock
from pipeline.modelarts import AkSkCredentials
from pipeline.simulator import SimulatorConfig, run_simulator
from pipeline.flow import renormalize, run_snapshot

AK, SK = "AKCOMPACTIONTEST0001", "compaction-test-sk-0123456789abcdefghij"
START = datetime(2026, 11, 1, 18, tzinfo=timezone.utc)


def snapshot_files(root: Path) -> list[Path]:
    """Every table data file on disk, active or waiting for vacuum."""
    return sorted(p for p in (root / "lake").glob("*/snapshot_day=*/*.parquet"))


def active_files(layout: Layout) -> set[str]:
    lake = layout.tables()
    return {f for table in lake.tables() for f in lake.files(table)}


def versions(layout: Layout) -> dict[str, int]:
    lake = layout.tables()
    return {table: lake.open(table).version() for table in lake.tables()}


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
    # One file per table and day is what the catalog now reads; the replaced files wait out the grace period.
    per_day = day_files(layout)
    assert sorted(per_day) == result.days
    assert all(files == 1 for tables in per_day.values() for files, _ in tables.values())
    assert result.files_after == sum(len(tables) for tables in per_day.values()) < result.files_before
    assert len(snapshot_files(config.root)) == files_before + result.files_after
    with writer_lock(layout):
        collect_garbage(layout, grace_s=0)
    assert {str(p) for p in snapshot_files(config.root)} == active_files(layout)
    assert fresh(layout.catalog, tmp_path / "w3") == before


def test_compacting_twice_changes_nothing_and_the_latest_day_waits(lake):
    root, config, layout = lake
    first = compact_lake(layout)
    assert len(first.days) == 2  # the latest day is still receiving snapshots
    latest = max(day_files(layout))
    assert latest not in first.days and any(files > 1 for files, _ in day_files(layout)[latest].values())
    committed = versions(layout)
    again = compact_lake(layout)
    assert again.days == [] and sorted(again.skipped) == sorted(first.days)
    assert versions(layout) == committed  # nothing rewritten


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
    # The re-run's replaced rows are still in its day's compacted file, hidden by the snapshots row's write id.
    lake = layout.tables()
    day = rerun[:4] + "-" + rerun[4:6] + "-" + rerun[6:8]
    in_files = duckdb.sql(f"SELECT count(*) FROM read_parquet({sorted(lake.files('pools'))!r}) "
                          f"WHERE snapshot_id = '{rerun}'").fetchall()[0][0]
    assert in_files > manifests[rerun].tables["pools"]["rows"]
    before = fresh(layout.catalog, tmp_path / "w1")
    result = compact_lake(layout, include_latest=True, grace_s=0)
    assert sorted(result.days) == sorted({day, "2026-11-02"})
    # the replaced write's rows were swept before the day was rewritten
    in_files = duckdb.sql(f"SELECT count(*) FROM read_parquet({sorted(lake.files('pools'))!r}) "
                          f"WHERE snapshot_id = '{rerun}'").fetchall()[0][0]
    assert in_files == manifests[rerun].tables["pools"]["rows"]
    assert fresh(layout.catalog, tmp_path / "w2") == before


def test_a_failed_compaction_loses_nothing_and_the_next_one_finishes(lake, tmp_path, monkeypatch):
    """A compaction that fails part way (a disk error on the third table's rewrite): the tables it rewrote
    and those it did not answer the same, and the next compaction finishes the day."""
    root, config, layout = lake
    before = fresh(layout.catalog, tmp_path / "w1")
    from deltalake.table import TableOptimizer

    real, calls = TableOptimizer.compact, []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(TableOptimizer, "compact", failing)
    with pytest.raises(CompactionError, match="No space left on device"):
        compact_lake(layout, include_latest=True)
    monkeypatch.undo()
    assert fresh(layout.catalog, tmp_path / "w2") == before
    result = compact_lake(layout, include_latest=True, grace_s=0)
    assert result.days and all(files == 1 for tables in day_files(layout).values() for files, _ in tables.values())
    assert not list(layout.tmp.iterdir())
    assert {str(p) for p in snapshot_files(config.root)} == active_files(layout)
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
    stale = catalog_files(layout.catalog)  # committed, but the catalog still names the replaced files
    assert stale and not stale <= active_files(layout)
    real_gc = compaction.collect_garbage

    def gc_checking_the_catalog(layout_, grace_s):
        named = catalog_files(layout_.catalog)
        assert named <= active_files(layout_), "garbage collection would remove files the current catalog names"
        return real_gc(layout_, grace_s)

    monkeypatch.setattr(compaction, "collect_garbage", gc_checking_the_catalog)
    result = compact_lake(layout, include_latest=True, grace_s=0)
    assert result.days == [] and result.garbage["table_files"] >= len(stale)
    assert fresh(layout.catalog, tmp_path / "w2") == before


def test_dagster_compacts_one_day_partition(lake, tmp_path):
    root, config, layout = lake
    before = fresh(layout.catalog, tmp_path / "w1")
    asset, job, schedule = compaction_definitions(date(2026, 11, 1))
    resources = resources_for(str(root / "poolscope.yaml"))
    result = dg.materialize([asset], resources=resources, partition_key="2026-11-02")
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["compacted"].value is True and meta["files_after"].value < meta["files_before"].value
    assert all(files == 1 for files, _ in day_files(layout)["2026-11-02"].values())
    assert any(files > 1 for files, _ in day_files(layout)["2026-11-01"].values())  # other days left alone
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
