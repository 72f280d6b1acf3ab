"""The incremental history (pipeline/history/store.py) equals the full recomputation (build_history, the
reference), snapshot after snapshot, whatever order snapshots are committed in and wherever a run dies.

After every step below, `same_as_full_recomputation` compares the history the catalog would show (the record's
files and state, through `history_sources`) with build_history over the lake as it is: same columns and types,
same rows (as multisets; JSON compared as values, and as text: keys in the same order).
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml
from deltalake import write_deltalake

import lakekit
from clikit import cli_env
from history.test_history import land, story_steps
from lakekit import pool_doc, publish_snapshot, query_catalog, utc
from pipeline.config import load_config
from pipeline.history import store as history_store

from pipeline.lake.compaction import compact
from pipeline.history.full import build_history
from pipeline.history.store import (
    history_sources, read_record, rebuild_history, record_path, update_history,
)
from pipeline.catalog.views import lake_connection
from pipeline.lake.delta import SNAPSHOTS
from pipeline.lake.layout import Layout
from pipeline.lake.store import read_manifests, writer_lock
from pipeline.modelarts import AkSkCredentials
from pipeline.reports.days import refresh_history
from pipeline.simulator import Faults, SimulatorConfig, run_simulator
from pipeline.flow import run_snapshot
from pipeline.check.checks import check
from pipeline.lake.commit import commit_staged
from pipeline.normalize.step import stage

R = "cn-north-4"
JSON_COLUMNS = ("before", "after", "content")
AK, SK = "AKHISTORYINCREMENTAL", "history-incremental-sk-0123456789abcdef"


# ------------------------------------------------------------------------------------------------ comparing


def _value(name: str, v):
    if name in JSON_COLUMNS and v is not None:  # as values, and as text (keys in the documented order)
        return json.dumps(json.loads(v), sort_keys=True), v
    if isinstance(v, list):
        return tuple(v)
    return v


def _table(con: duckdb.DuckDBPyConnection, select: str) -> tuple[list[tuple], list[tuple]]:
    """(columns with types, rows as sorted comparable tuples)."""
    columns = [tuple(r[:2]) for r in con.execute(f"DESCRIBE {select}").fetchall()]
    cur = con.execute(select)
    names = [d[0] for d in cur.description]
    rows = [tuple(_value(n, v) for n, v in zip(names, row)) for row in cur.fetchall()]
    return columns, sorted(rows, key=repr)


def reference(layout: Layout, out: Path) -> dict:
    """build_history over every committed snapshot, on the catalog's views."""
    shutil.rmtree(out, ignore_errors=True)
    con = lake_connection(layout)
    build_history(con, out)
    return {t: _table(con, f"SELECT * FROM read_parquet('{out / t}.parquet')")
            for t in ("pool_changes", "pool_versions")}


def incremental(layout: Layout) -> dict:
    con = duckdb.connect()
    return {t: _table(con, select) for t, select in history_sources(layout).items()}


def same_as_full_recomputation(layout: Layout, work: Path) -> dict[str, int]:
    want, got = reference(layout, work / "reference"), incremental(layout)
    assert set(got) == set(want)
    for table in want:
        assert got[table][0] == want[table][0], table  # columns and types
        missing = [r for r in want[table][1] if r not in got[table][1]]
        extra = [r for r in got[table][1] if r not in want[table][1]]
        assert not missing and not extra, (table, missing[:3], extra[:3])
        assert got[table][1] == want[table][1], table  # as multisets
    return {t: len(want[t][1]) for t in want}


def update(layout: Layout, **kw):
    with writer_lock(layout):
        return update_history(layout, grace_s=kw.pop("grace_s", 0), **kw)


# ------------------------------------------------------------------------------------------------ the story
# test_history.py's story: failed, filtered, unreadable and glitching listings, ShowPool 404s confirming
# deletions, a re-creation, the same pool name in two projects.


HOURS = [utc(2026, 11, 1, h) for h in range(4)]


def test_story_folded_snapshot_by_snapshot(tmp_path):
    layout = Layout(tmp_path)
    assert update(layout).rebuilt == "no history yet"  # an empty lake: an empty history, with its schema
    assert incremental(layout)["pool_changes"] == reference(layout, tmp_path / "ref")["pool_changes"]
    for at, calls in zip(HOURS, story_steps()):
        sid = land(tmp_path, at, calls)
        result = update(layout)
        assert result.folded == [sid] and not result.rebuilt
        counts = same_as_full_recomputation(layout, tmp_path)
        assert result.rows == counts
    assert counts == {"pool_changes": 39, "pool_versions": 34}  # test_history.py's hand count
    # The state a rebuild writes and the one a fold writes are the same table.
    state = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{tmp_path / read_record(layout).state}')").fetchall()
    with writer_lock(layout):
        rebuild_history(layout, grace_s=0)
    assert duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{tmp_path / read_record(layout).state}')"
                      ).fetchall() == state
    same_as_full_recomputation(layout, tmp_path)


# ------------------------------------------------------------------------------------------------ a simulated fleet


def configure(sim, root: Path) -> tuple[Path, dict]:
    """Every project listed, except: project 0 also through a workspace-filtered listing, project 1 only through
    a label_selector listing (it can prove nothing gone), project 2 only through ShowPool of three pools."""
    path = sim.write_config(root / "poolscope.yaml", storage_root="./data")
    data = yaml.safe_load(path.read_text())
    projects = sim.projects
    p0, p1, p2 = projects[0], projects[1], projects[2]
    targets = [t for t in data["targets"] if t["project_id"] not in (p1.id, p2.id)]
    ws = next((d["metadata"]["labels"]["os.modelarts/workspace.id"] for d in sim.fleet.pools(p0.id)), "0")
    targets.append({**targets[0], "project_id": p0.id, "region": p0.region, "workspace_id": ws})
    targets.append({"region": p1.region, "project_id": p1.id, "endpoint": sim.url, "label_selector": "a=b"})
    shown = [d["metadata"]["name"] for d in sim.fleet.pools(p2.id)][:3]
    targets.append({"region": p2.region, "project_id": p2.id, "endpoint": sim.url, "pools": shown})
    data["targets"] = targets
    data["fetch"] = {"concurrency": 8, "rate_limit": 500, "timeout_s": 2, "max_attempts": 2, "max_total_s": 30}
    path.write_text(yaml.safe_dump(data))
    return path, {"shown": shown, "show_project": p2.id, "project": projects[3].id}


def test_simulated_fleet_folded_snapshot_by_snapshot(tmp_path):
    """Eight snapshots six hours apart (two or three UTC days, so past days' segments get merged) of a fleet that
    creates, scales, breaks and deletes pools, with 5xx errors (two attempts, so some listings and some
    confirmations fail), listing glitches (empty or partial listings while the pools exist), a forbidden
    project, workspace- and label-filtered listings, ShowPool targets, a ShowPool 404 (a deletion, then the pool
    seen again: a re-creation), a pool deleted by a user and a listing failed on purpose. Each through
    refresh_history, the entry point the CLI's `report` and the Dagster asset use."""
    faults = Faults(error_rate=0.05, forbidden_projects=1, listing_glitch_rate=0.15, seed=3)
    with run_simulator(SimulatorConfig(projects=6, pools_per_project=6, seed=3, ak=AK, sk=SK, faults=faults)) as sim:
        path, plan = configure(sim, tmp_path)
        config = load_config(path)
        layout = Layout(config.root)
        kinds: set[str] = set()
        for step in range(8):
            if step == 3:  # ShowPool says 404 for one pool: deleted, then seen again at step 4
                sim.inject("not_found", project_id=plan["show_project"], path_contains=plan["shown"][0])
            if step == 2:  # deleted by a user: missing from the listing, confirmed by ShowPool
                gone = sim.fleet.pools(plan["project"])[0]["metadata"]["name"]
                sim.fleet.delete_pool(plan["project"], gone)
            if step == 6:  # a listing that fails: its pools are unobserved, not deleted
                sim.inject("error", count=2, project_id=plan["project"], path_contains="/pools", status=500)
            result = run_snapshot(config, credentials=AkSkCredentials(AK, SK), snapshot_at=sim.fleet.now)
            rows = refresh_history(layout)
            record = read_record(layout)
            assert record.snapshot_id == result.snapshot_id and (step == 0 or record.previous)
            assert rows == same_as_full_recomputation(layout, tmp_path)
            con = duckdb.connect()
            kinds |= {r[0] for r in con.execute(
                f"SELECT DISTINCT change_type FROM ({history_sources(layout)['pool_changes']})").fetchall()}
            sim.advance(hours=6)
    assert kinds == {"created", "updated", "deleted"}
    record = read_record(layout)
    assert {p["kind"] for p in record.parts} == {"base", "day", "segment"}
    shown = plan["shown"][0]
    assert [r[0] for r in query_catalog(layout.catalog, f"SELECT change_type FROM pool_changes "
                                                        f"WHERE pool_id = '{shown}' ORDER BY snapshot_at")
            ][:3] == ["created", "deleted", "created"]
    assert query_catalog(layout.catalog, "SELECT count(*) FROM pool_versions") == [[rows["pool_versions"]]]
    assert "deleted" in [r[0] for r in query_catalog(
        layout.catalog, f"SELECT change_type FROM pool_changes WHERE pool_id = '{gone}' ORDER BY snapshot_at")]
    # listing glitches happened (pools missing from a listing, then found by ShowPool): no deletion came of them
    assert query_catalog(layout.catalog, "SELECT count(*) > 0 FROM fetches WHERE reason = 'incomplete_listing'"
                         ) == [[True]]


# ------------------------------------------------------------------------------------------------ out of order


def snap(root: Path, at, pools: dict[str, list[dict] | int] | tuple[dict, dict], shows=None) -> str:
    """Commit a snapshot (no catalog: the history reads the lake's files). `pools`: listings, or fleet(h)."""
    if isinstance(pools, tuple):
        pools, shows = pools
    return publish_snapshot(root, at, {(R, p): docs for p, docs in pools.items()}, shows=shows, catalog=False)


def fleet(hour: int) -> tuple[dict, dict]:
    """(listings, shows) of two projects whose pools change a little every hour. p1/c is gone for two hours in
    four, each confirmed by a ShowPool 404 (a deletion, an absence seen again, then a re-creation); p1/d misses
    from the listing every third hour and its ShowPool fails (unobserved); p2's listing fails at hour 5."""
    listings = {
        "p1": [pool_doc("a", available={"f1": 1 + hour % 3}),
               pool_doc("b", phase="Running" if hour % 2 else "Abnormal")]
              + ([pool_doc("c", labels={"gen": str(hour // 4)})] if hour % 4 > 1 else [])
              + ([pool_doc("d")] if hour % 3 else []),
        "p2": [pool_doc("x", labels={"h": str(hour // 2)})] if hour != 5 else 503,
    }
    shows = {(R, "p1", "c"): 404} if hour % 4 <= 1 else {}
    if hour % 3 == 0:
        shows[(R, "p1", "d")] = 503
    return listings, shows


def test_display_name_follows_renames_and_outlives_the_deletion(tmp_path):
    """pool_changes.display_name: the name observed at a creation or update, the last one observed at a deletion.
    By hand: p1/r is "Before" at hour 0, renamed "After" at hour 1 (with one more node), deleted at hour 2 (a
    ShowPool 404), re-created as "Again" at hour 3; p1/s keeps "Steady" and changes a node count at hour 1. Folded
    snapshot by snapshot and recomputed in full, the same rows."""
    layout = Layout(tmp_path)
    steps = [
        {"p1": [pool_doc("r", display_name="Before", available={"f1": 1}),
                pool_doc("s", display_name="Steady", available={"f1": 1})]},
        {"p1": [pool_doc("r", display_name="After", available={"f1": 2}),
                pool_doc("s", display_name="Steady", available={"f1": 2})]},
        ({"p1": [pool_doc("s", display_name="Steady", available={"f1": 2})]}, {(R, "p1", "r"): 404}),
        {"p1": [pool_doc("r", display_name="Again", available={"f1": 2}),
                pool_doc("s", display_name="Steady", available={"f1": 2})]},
    ]
    update(layout)  # an empty history first: each snapshot below is then folded in
    for h, pools in enumerate(steps):
        snap(tmp_path, utc(2026, 11, 1, h), pools)
        assert update(layout).folded == [f"20261101T0{h}0000Z"]
        same_as_full_recomputation(layout, tmp_path)
    columns, rows = incremental(layout)["pool_changes"]
    names = [c[0] for c in columns]
    assert names[5] == "display_name" and names[4] == "pool_id"
    got = sorted((r[0], r[4], r[6], r[5]) for r in rows)
    assert got == [
        ("20261101T000000Z", "r", "created", "Before"), ("20261101T000000Z", "s", "created", "Steady"),
        ("20261101T010000Z", "r", "updated", "After"), ("20261101T010000Z", "s", "updated", "Steady"),
        ("20261101T020000Z", "r", "deleted", "After"),
        ("20261101T030000Z", "r", "created", "Again"),
    ]


def test_out_of_order_commits_and_a_crash_after_commit(tmp_path, monkeypatch):
    layout = Layout(tmp_path)
    at = [utc(2026, 11, 1, h) for h in range(12)]
    for h in range(4):
        snap(tmp_path, at[h], fleet(h))
    assert update(layout).rebuilt == "no history yet"
    same_as_full_recomputation(layout, tmp_path)

    # a crash after two commits, before the history moved: both are folded in by the next run
    for h in (4, 5):
        snap(tmp_path, at[h], fleet(h))
    assert len(update(layout).folded) == 2
    same_as_full_recomputation(layout, tmp_path)

    # the latest snapshot re-run (new content): folded again from the record before it, not rebuilt
    snap(tmp_path, at[5], ({**fleet(5)[0], "p1": [pool_doc("a", available={"f1": 9})]}, {}))
    result = update(layout)
    assert result.folded == [at[5].strftime("%Y%m%dT%H%M%SZ")] and not result.rebuilt
    same_as_full_recomputation(layout, tmp_path)

    # a late snapshot (earlier than the latest): rebuilt
    snap(tmp_path, at[2] + timedelta(minutes=30), fleet(7))
    assert update(layout).rebuilt.startswith("snapshots committed or replaced")
    same_as_full_recomputation(layout, tmp_path)

    # an older snapshot re-run with other content: rebuilt
    snap(tmp_path, at[1], {"p1": [pool_doc("a", phase="Error")], "p2": []})
    assert update(layout).rebuilt
    same_as_full_recomputation(layout, tmp_path)

    # renormalize (a snapshot re-staged from its raw set): rebuilt
    m = read_manifests(layout)[2]
    with writer_lock(layout):
        staged = stage(layout, tmp_path / m.raw_dir, m.snapshot_id)
        commit_staged(layout, staged, check(staged))
    assert update(layout).rebuilt
    same_as_full_recomputation(layout, tmp_path)

    # a snapshot removed by hand: rebuilt
    hide(layout, [read_manifests(layout)[0].snapshot_id])
    assert update(layout).rebuilt
    same_as_full_recomputation(layout, tmp_path)

    # nothing new: nothing done
    before = record_path(layout).read_bytes()
    result = update(layout)
    assert result.folded == [] and not result.rebuilt and record_path(layout).read_bytes() == before

    # far behind (more than FOLD_AT_MOST snapshots): rebuilt rather than folded one by one
    monkeypatch.setattr(history_store, "FOLD_AT_MOST", 2)
    for minutes in range(1, 4):
        snap(tmp_path, at[6] + timedelta(minutes=minutes), fleet(minutes))
    assert update(layout).rebuilt == "3 snapshots behind"
    same_as_full_recomputation(layout, tmp_path)


def test_other_rules_rebuild(tmp_path, monkeypatch):
    layout = Layout(tmp_path)
    snap(tmp_path, utc(2026, 11, 1, 0), fleet(0))
    update(layout)
    snap(tmp_path, utc(2026, 11, 1, 1), fleet(1))
    monkeypatch.setattr(history_store, "FORMAT", history_store.FORMAT + 1)
    history_store.rules_digest.cache_clear()
    try:
        assert update(layout).rebuilt == "other history rules"
    finally:
        monkeypatch.undo()
        history_store.rules_digest.cache_clear()
    same_as_full_recomputation(layout, tmp_path)


def test_fleet_folded_hour_by_hour_then_from_compacted_days(tmp_path):
    """Hours 0-4 folded one by one (p1/c created, then deleted); hour 5 (c seen absent again) recomputed in full,
    so that the re-creation at hour 6 is folded from the state the full recomputation wrote; hours 6-7 folded
    after compaction ran, read from the day's compacted file. The same as the full recomputation each time."""
    layout = Layout(tmp_path)
    update(layout)
    for h in range(5):
        snap(tmp_path, utc(2026, 11, 1, h), fleet(h))
        assert update(layout).folded == [f"20261101T0{h}0000Z"]
        same_as_full_recomputation(layout, tmp_path)
    snap(tmp_path, utc(2026, 11, 1, 5), fleet(5))
    with writer_lock(layout):
        rebuild_history(layout, grace_s=0)
    for h in range(6, 8):
        snap(tmp_path, utc(2026, 11, 1, h), fleet(h))
    with writer_lock(layout):
        compact(layout, include_latest=True, grace_s=0)
    assert not any(layout.lake.glob("pools/snapshot_day=*/2026*.parquet"))  # only the day file is left
    assert len(update(layout).folded) == 2
    same_as_full_recomputation(layout, tmp_path)
    columns, rows = incremental(layout)["pool_changes"]
    changes = [dict(zip((c[0] for c in columns), r)) for r in rows]
    assert [(r["snapshot_id"], r["change_type"]) for r in changes if r["pool_id"] == "c"] == [
        ("20261101T020000Z", "created"), ("20261101T040000Z", "deleted"), ("20261101T060000Z", "created")]
    # the latest absence before it
    assert [r["previous_snapshot_id"] for r in changes if r["pool_id"] == "c"][2] == "20261101T050000Z"


def test_a_fold_reads_only_its_own_snapshot(tmp_path):
    """The cost of a fold cannot grow with the lake's age: with every older snapshot's table files gone (the
    snapshots table kept), the next snapshot still folds, and gives the rows the full recomputation gives."""
    layout = Layout(tmp_path)
    for h in range(3):
        snap(tmp_path, utc(2026, 11, 1, h), fleet(h))
    update(layout)
    snap(tmp_path, utc(2026, 11, 1, 5), fleet(6))
    aside = tmp_path / "aside"
    latest = read_manifests(layout)[-1].snapshot_id
    lake = layout.tables()
    # every table's files of the older snapshots, but the snapshots table's (the index of what is committed)
    older = [Path(lake.storage.fs_path("lake", table, a["path"])) for table in lake.tables() if table != SNAPSHOTS
             for a in pa.table(lake.open(table).get_add_actions(flatten=True)).to_pylist()
             if a["max.snapshot_id"] < latest]
    assert older
    for f in older:
        (aside / f.relative_to(tmp_path)).parent.mkdir(parents=True, exist_ok=True)
        f.rename(aside / f.relative_to(tmp_path))
    result = update(layout)
    assert result.folded == ["20261101T050000Z"] and not result.rebuilt
    for f in older:
        (aside / f.relative_to(tmp_path)).rename(f)
    same_as_full_recomputation(layout, tmp_path)


# ------------------------------------------------------------------------------------------------ crashes


def test_a_failed_commit_leaves_the_previous_record(tmp_path, monkeypatch):
    layout = Layout(tmp_path)
    snap(tmp_path, utc(2026, 11, 1, 0), fleet(0))
    update(layout)
    before = record_path(layout).read_bytes()
    sources = history_sources(layout)
    snap(tmp_path, utc(2026, 11, 1, 1), fleet(1))

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(history_store, "_write_json", crash)
    with pytest.raises(OSError):
        update(layout)
    monkeypatch.undo()
    assert record_path(layout).read_bytes() == before and history_sources(layout) == sources
    debris = {p for p in layout.history.rglob("*.parquet")} - {tmp_path / f for f in _referenced(layout)}
    assert debris  # the new state and segment were moved in, but nothing names them
    assert update(layout).folded == ["20261101T010000Z"]
    same_as_full_recomputation(layout, tmp_path)
    assert not debris & set(layout.history.rglob("*.parquet"))  # garbage collection removed them (grace 0)


def _referenced(layout: Layout) -> set[str]:
    return {str(p.relative_to(layout.root)) for p in read_record(layout).referenced(layout.root)}


def test_replaced_files_wait_out_the_grace_period(tmp_path):
    """Files a new record no longer names (the previous state, merged segments) stay while an open catalog may
    still read them, and go after the grace period."""
    layout = Layout(tmp_path)
    snap(tmp_path, utc(2026, 11, 1, 22), fleet(0))
    update(layout)
    for h in (23, 24, 25):
        snap(tmp_path, utc(2026, 11, 1, 22) + timedelta(hours=h - 22), fleet(h))
        update(layout, grace_s=3600)
    files = set(layout.history.rglob("*.parquet"))
    named = {tmp_path / f for f in _referenced(layout)}
    assert files - named  # replaced but kept
    with writer_lock(layout):
        history_store.collect_history_garbage(layout, grace_s=0)
    assert set(layout.history.rglob("*.parquet")) == named


def hide(layout: Layout, snapshot_ids: list[str]) -> pa.Table:
    """Take snapshots out of the committed lake (their snapshots rows, the commit points); returns the rows."""
    lake = layout.tables()
    dt = lake.open(SNAPSHOTS)
    rows = dt.to_pyarrow_table()
    rows = rows.filter(pc.is_in(rows["snapshot_id"], pa.array(snapshot_ids, pa.string())))
    if snapshot_ids:
        dt.delete("snapshot_id IN (" + ", ".join(f"'{s}'" for s in snapshot_ids) + ")")
    return rows


def show(layout: Layout, rows: pa.Table) -> None:
    """Put hidden snapshots back: their snapshots rows, as they were."""
    if rows.num_rows:
        write_deltalake(layout.tables().uri(SNAPSHOTS), rows, mode="append", partition_by=["snapshot_day"])


VICTIM = """
import sys
from pathlib import Path
from pipeline.lake.layout import Layout
from pipeline.reports.days import refresh_history
refresh_history(Layout(Path(sys.argv[1])))
"""


def test_kill_9_during_history_updates(tmp_path):
    """A process killed at random moments of folding, merging and committing: the record left behind is always
    whole (its files exist, its history equals the full recomputation of the snapshots it names), and the next
    run brings the history up to date."""
    layout = Layout(tmp_path)
    rng = random.Random(11)
    snap(tmp_path, utc(2026, 11, 1, 20), fleet(0))
    update(layout)
    kills = 0
    hour = 1
    for _ in range(5):
        for _ in range(2):  # two snapshots to fold per round, across midnight: merges happen too
            snap(tmp_path, utc(2026, 11, 1, 20) + timedelta(hours=hour), fleet(hour))
            hour += 1
        victim = subprocess.Popen([sys.executable, "-c", VICTIM, str(tmp_path)], env=cli_env(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started = time.monotonic()
        while victim.poll() is None and time.monotonic() - started < 60:
            if any(layout.tmp.glob("history-*")):
                time.sleep(rng.uniform(0, 0.4))
                if victim.poll() is None:
                    victim.send_signal(signal.SIGKILL)
                    kills += 1
                break
            time.sleep(0.001)
        _, err = victim.communicate(timeout=60)
        assert victim.returncode in (0, -signal.SIGKILL), err.decode()
        record = read_record(layout)
        assert all(p.is_file() for p in record.referenced(tmp_path))
        # what the record shows equals the full recomputation over the snapshots it names
        got = incremental(layout)
        hidden = hide(layout, [m.snapshot_id for m in read_manifests(layout) if m.snapshot_id > record.snapshot_id])
        try:
            want = reference(layout, tmp_path / "reference")
        finally:
            show(layout, hidden)
        assert got == want
    assert kills >= 2, kills
    assert not update(layout).rebuilt
    same_as_full_recomputation(layout, tmp_path)


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_history(tmp_path):
    layout = Layout(tmp_path / "data")
    config = tmp_path / "poolscope.yaml"
    config.write_text(yaml.safe_dump({"storage": {"root": "./data"}, "targets": [
        {"region": R, "project_id": "p1", "endpoint": lakekit.ENDPOINT}]}))

    def history(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pipeline.cli", "history", "--config", str(config), *args],
                              capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=120)

    for h in range(2):
        snap(layout.root, utc(2026, 11, 1, h), fleet(h))
    first = history()
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("history through 20261101T010000Z: recomputed in full (no history yet)")
    snap(layout.root, utc(2026, 11, 1, 2), fleet(2))
    second = history()
    assert second.returncode == 0 and "20261101T020000Z: 1 snapshot(s) folded in" in second.stdout, second
    counts = same_as_full_recomputation(layout, tmp_path)
    assert f"pool_changes: {counts['pool_changes']} row(s)" in second.stdout
    assert query_catalog(layout.catalog, "SELECT count(*) FROM pool_changes") == [[counts["pool_changes"]]]
    again = history("--rebuild")
    assert again.returncode == 0 and "recomputed in full (requested)" in again.stdout
    with writer_lock(layout):
        busy = history()
    assert busy.returncode == 1 and "another poolscope process" in busy.stderr and "Traceback" not in busy.stderr


def test_a_lake_with_the_old_whole_lake_history_files(tmp_path):
    """lake/derived/pool_changes.parquet and pool_versions.parquet (written by the full recomputation after
    every snapshot before the history was incremental): the first update recomputes the history into a record,
    the catalog reads the record, and the old files go once their grace period is over."""
    layout = Layout(tmp_path)
    for h in range(2):
        snap(tmp_path, utc(2026, 11, 1, h), fleet(h))
    reference(layout, layout.lake / "derived")  # the old refresh_history's files
    stale = layout.lake / "derived" / "pool_changes.parquet"
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    assert update(layout, grace_s=3600).rebuilt == "no history yet"
    assert stale.exists()  # an open catalog may still read it
    with writer_lock(layout):
        from pipeline.lake.commit import refresh_catalog
        refresh_catalog(layout)
    views = query_catalog(layout.catalog, "SELECT sql FROM duckdb_views() WHERE view_name LIKE 'pool_%'")
    assert "_history" in str(views) and str(stale) not in str(views)
    with writer_lock(layout):
        history_store.collect_history_garbage(layout, grace_s=0)
    assert not any((layout.lake / "derived").glob("*.parquet"))
