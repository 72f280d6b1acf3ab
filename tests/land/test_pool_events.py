"""ListEvents in snapshots, end to end against the simulator: each pool's history lands once, later snapshots ask
only from the latest stored event, and the catalog keeps one row per event."""

from datetime import datetime, timezone
from pathlib import Path

import duckdb
import yaml

from lakekit import query_catalog
from pipeline.config import load_config
from pipeline.flow import run_snapshot
from pipeline.lake.layout import Layout
from pipeline.modelarts import AkSkCredentials
from pipeline.simulator import SimulatorConfig, run_simulator
from pipeline.simulator.query import parse_query

AK, SK = "AKEVENTSLAND00000001", "events-land-sk-0123456789abcdefghijklmno"
# Seed 9, 3 projects x 4 pools: over 24 simulated hours, then 12 more, pools scale, fail and recover, two are
# deleted in between, and some status changes repeat across the second snapshot (their count grows).
SEED, FIRST_HOURS, MORE_HOURS = 9, 24, 12


def _config(sim, tmp_path: Path, collect: bool = True) -> Path:
    path = sim.write_config(tmp_path / "poolscope.yaml", storage_root="./data")
    data = yaml.safe_load(path.read_text())
    data["collect"] = {"pool_events": collect}
    path.write_text(yaml.safe_dump(data))
    return path


def _snapshot(sim, path: Path):
    return run_snapshot(load_config(path), credentials=AkSkCredentials(AK, SK), snapshot_at=sim.fleet.now)


def _epoch(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())


def _listed(sim) -> dict[tuple[str, str], list[dict]]:
    """(project, pool) -> the pool's events as the service holds them now, for every pool it lists now."""
    return {(p.id, d["metadata"]["name"]): sim.fleet.events(p.id, d["metadata"]["name"])
            for p in sim.projects for d in sim.fleet.pools(p.id)}


def _asked(sim) -> list[tuple[str, dict[str, str]]]:
    """(project, query) of every ListEvents request the simulator saw, in order."""
    return [(r.project_id, parse_query(r.query)) for r in sim.requests if r.path.endswith("/events")]


def _rows(db: Path) -> list[tuple]:
    return [tuple(r) for r in query_catalog(
        db, "SELECT project_id, pool_id, type, reason, message, count, strftime(first_at, '%Y-%m-%dT%H:%M:%SZ'), "
            "strftime(last_at, '%Y-%m-%dT%H:%M:%SZ') FROM pool_events")]


def _as_rows(events: dict[tuple[str, str], list[dict]]) -> list[tuple]:
    return [(pid, pool, e["type"], e["reason"], e["message"], e["count"], e["firstTimestamp"], e["lastTimestamp"])
            for (pid, pool), evs in events.items() for e in evs]


def _lake_rows(root: Path, snapshot_id: str) -> int:
    files = sorted(str(f) for f in (root / "lake" / "pool_events").rglob("*.parquet"))
    con = duckdb.connect()
    try:
        return con.execute("SELECT count(*) FROM read_parquet($f, union_by_name = true) WHERE snapshot_id = $s",
                           {"f": files, "s": snapshot_id}).fetchone()[0]
    finally:
        con.close()


def test_history_then_only_what_is_new(tmp_path):
    with run_simulator(SimulatorConfig(projects=3, pools_per_project=4, seed=SEED, ak=AK, sk=SK)) as sim:
        path = _config(sim, tmp_path)
        db = Layout(tmp_path / "data").catalog
        sim.advance(FIRST_HOURS)
        first = _listed(sim)
        r1 = _snapshot(sim, path)
        asked1 = _asked(sim)
        got1 = _rows(db)
        sim.clear_requests()

        sim.advance(MORE_HOURS)
        second = _listed(sim)
        r2 = _snapshot(sim, path)
        asked2 = _asked(sim)
        got2 = _rows(db)
    assert r1.status == r2.status == "complete"
    assert sum(map(len, first.values())) > 20

    # First snapshot: every listed pool asked once, for everything (no since), its whole history landed.
    assert sorted((pid, q["name"]) for pid, q in asked1) == sorted(first)
    assert all(q["resource"] == "pools" and "since" not in q and "until" not in q for _, q in asked1)
    assert sorted(got1) == sorted(_as_rows(first))

    # Second snapshot: the pools listed now, each from the second of its latest event stored (none stored: all).
    gone = set(first) - set(second)
    assert len(gone) == 2  # deleted in between: never asked again
    assert sorted((pid, q["name"]) for pid, q in asked2) == sorted(second)
    cursor = {key: max(_epoch(e["lastTimestamp"]) for e in evs) for key, evs in first.items() if evs}
    assert {(pid, q["name"]): int(q["since"]) for pid, q in asked2 if "since" in q} == {
        k: v for k, v in cursor.items() if k in second}
    # only the events touching that window were landed again
    new = {key: [e for e in evs if key not in cursor or _epoch(e["lastTimestamp"]) >= cursor[key]]
           for key, evs in second.items()}
    assert _lake_rows(tmp_path / "data", r2.snapshot_id) == sum(map(len, new.values()))
    assert 0 < sum(map(len, new.values())) < sum(map(len, second.values()))

    # The catalog: one row per event, each at its latest: the listed pools' events now, the gone pools' as seen.
    assert sorted(got2) == sorted(_as_rows(second) + _as_rows({k: v for k, v in first.items() if k in gone}))
    assert len(set((r[0], r[1], r[3], r[6], r[4]) for r in got2)) == len(got2)
    # repeats across the boundary: the row's count and last_at grew, on the one row of the event
    grown = [(k, e) for k, evs in second.items() if k in first for e in evs
             if any(o["message"] == e["message"] and o["count"] < e["count"] for o in first[k])]
    assert grown and all((*k, e["type"], e["reason"], e["message"], e["count"], e["firstTimestamp"],
                          e["lastTimestamp"]) in got2 for k, e in grown)


def test_paging_across_continue_tokens(tmp_path):
    # The service answers at most 3 events a page here: a pool with more takes several calls, each landed.
    config = SimulatorConfig(projects=3, pools_per_project=4, seed=SEED, ak=AK, sk=SK, events_page_size=3)
    with run_simulator(config) as sim:
        path = _config(sim, tmp_path)
        sim.advance(FIRST_HOURS)
        served = _listed(sim)
        result = _snapshot(sim, path)
        asked = _asked(sim)
    db = Layout(tmp_path / "data").catalog
    assert result.status == "complete"
    pages = {key: max(1, -(-len(evs) // 3)) for key, evs in served.items()}
    assert max(pages.values()) >= 3
    calls = query_catalog(db, "SELECT project_id, pool_id, count(*) FROM fetches WHERE call = 'pool_events' "
                              "AND outcome = 'ok' GROUP BY ALL")
    assert {(pid, pool): n for pid, pool, n in calls} == pages
    assert len(asked) == sum(pages.values()) and sum("continue" in q for _, q in asked) == sum(pages.values()) - len(pages)
    assert sorted(_rows(db)) == sorted(_as_rows(served))


def test_switched_off_makes_no_call(tmp_path):
    with run_simulator(SimulatorConfig(projects=3, pools_per_project=4, seed=SEED, ak=AK, sk=SK)) as sim:
        path = _config(sim, tmp_path, collect=False)
        sim.advance(FIRST_HOURS)
        result = _snapshot(sim, path)
        asked = _asked(sim)
    db = Layout(tmp_path / "data").catalog
    assert result.status == "complete" and asked == []
    assert query_catalog(db, "SELECT count(*) FROM fetches WHERE call = 'pool_events'") == [[0]]
    assert query_catalog(db, "SELECT count(*) FROM pool_events") == [[0]]
