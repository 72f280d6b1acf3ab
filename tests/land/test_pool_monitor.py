"""ShowPoolMonitor in a snapshot: two calls (hourly average and maximum) per pool read, from the pool's latest
stored point (first: 60 days back, the 1,440-point limit), landed and normalized into pool_metrics, which the
catalog keeps one row per pool, metric, statistic and hour."""

from datetime import datetime, timedelta, timezone

import yaml

from lakekit import query_catalog
from pipeline.config import load_config
from pipeline.flow import run_snapshot
from pipeline.lake.layout import Layout
from pipeline.modelarts import AkSkCredentials
from pipeline.simulator import Faults, SimulatorConfig, run_simulator
from pipeline.simulator.catalog import FLAVORS
from pipeline.simulator.monitor import pool_monitor
from pipeline.simulator.query import parse_query

AK, SK = "AKMONITORLAND0000001", "monitor-land-sk-0123456789abcdefghijklmn"
H = 3_600_000
DAY = 24 * H


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _config(sim, tmp_path, **collect):
    path = sim.write_config(tmp_path / "poolscope.yaml", storage_root="./data")
    data = yaml.safe_load(path.read_text())
    # the other families off: this test is about the monitor
    data["collect"] = {"pool_nodes": False, "runtime_metrics": False, "pool_monitor": True, **collect}
    data["fetch"] = {"max_attempts": 1}
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


def _snapshot(sim, cfg):
    return run_snapshot(cfg, credentials=AkSkCredentials(AK, SK), snapshot_at=sim.fleet.now)


def _readable(sim) -> dict[tuple[str, str], object]:
    """(project id, pool id) -> PoolState of every pool the listings return."""
    return {(p.id, s.name): s for p in sim.projects if not p.forbidden for s in sim.fleet.pool_states(p.id)}


def _metrics(state) -> int:
    """cpuUsage, memUsedRate, and a pair per accelerator kind of the pool's flavors (reference section 3)."""
    kinds = {FLAVORS[a.flavor].kind for a in state.allocations}
    return 2 + 2 * ("gpu" in kinds) + 2 * ("npu" in kinds)


def _hours(state, start_ms: int, end_ms: int) -> int:
    """Hourly points of [start, end): none before the hour the pool was created in."""
    created = ms(state.created_at)
    first = max(start_ms, created - created % H)
    return max(0, (end_ms - first) // H)


def _monitor_requests(sim, since: int = 0):
    return [r for r in sim.requests[since:] if r.path.endswith("/monitor")]


def _asked(requests) -> dict[tuple[str, str], list[dict[str, str]]]:
    out: dict[tuple[str, str], list[dict[str, str]]] = {}
    for r in requests:
        parts = r.path.split("/")  # /v2/{pid}/pools/{pool}/monitor
        out.setdefault((parts[2], parts[4]), []).append(parse_query(r.query))
    return out


def test_first_snapshot_backfills_and_the_next_adds_only_the_new_hour(tmp_path):
    faults = Faults(forbidden_projects=1)
    with run_simulator(SimulatorConfig(projects=3, pools_per_project=4, seed=5, ak=AK, sk=SK, faults=faults)) as sim:
        cfg = _config(sim, tmp_path)
        db = Layout(tmp_path / "data").catalog
        end1 = ms(sim.fleet.now)  # 2026-11-01T00:00Z: on the hour
        assert end1 % H == 0
        first_pools = _readable(sim)
        result = _snapshot(sim, cfg)
        asked = _asked(_monitor_requests(sim))
        served = [(r, pool_monitor(sim.fleet.seed, sim.fleet.pool_state(r.path.split("/")[2], r.path.split("/")[4]),
                                   parse_query(r.query), sim.fleet.now)) for r in _monitor_requests(sim)]

        # every pool the listings returned, twice (average, maximum), 60 days back: 86,400 minutes, 1,440 points
        assert result.status == "partial"  # the forbidden project; its pools are never asked
        assert set(asked) == set(first_pools)
        for queries in asked.values():
            assert sorted(q["statistics"] for q in queries) == ["average", "maximum"]
            assert {(q["period"], q["time_range"]) for q in queries} == {("3600", f"{end1 - 60 * DAY}.{end1}.86400")}
        assert query_catalog(db, "SELECT count(*), count(*) FILTER (WHERE outcome = 'ok') FROM fetches "
                                 "WHERE call = 'pool_monitor'") == [[2 * len(first_pools), 2 * len(first_pools)]]

        # points: per pool, hours since max(60 days ago, its creation hour) x its metrics x 2 statistics
        want = {pool: 2 * _metrics(s) * _hours(s, end1 - 60 * DAY, end1) for (_, pool), s in first_pools.items()}
        got = dict(query_catalog(db, "SELECT pool_id, count(*) FROM pool_metrics GROUP BY ALL"))
        assert got == {p: n for p, n in want.items() if n}
        assert any(_hours(s, end1 - 60 * DAY, end1) == 1440 for s in first_pools.values())  # the cap bites
        assert any(_hours(s, end1 - 60 * DAY, end1) < 1440 for s in first_pools.values())   # and a young pool

        # the rows are what was served: -1 is NULL with no_data, values as given
        rows = query_catalog(db, 'SELECT pool_id, metric, statistic, epoch_ms(measured_at), value, no_data, unit, '
                                 "namespace, cluster_id, period_s FROM pool_metrics")
        expect = []
        for r, body in served:
            pool = r.path.split("/")[4]
            for m in body["metrics"]:
                cluster = m["metric"]["dimensions"][0]["value"]
                for p in m["dataPoints"]:
                    (s,) = p["statistics"]
                    v = s["value"]
                    expect.append([pool, m["metric"]["metricName"], s["statistic"], p["timestamp"],
                                   None if v == -1 else v, v == -1, "Percent", "PAAS.AGGR", cluster, 3600])
        assert sorted(rows, key=str) == sorted(expect, key=str)
        assert any(r[5] for r in rows) and all(r[4] is None for r in rows if r[5])

        # an hour later
        sim.advance(hours=1)
        end2 = ms(sim.fleet.now)
        assert end2 == end1 + H
        second_pools = _readable(sim)
        since = len(sim.requests)
        _snapshot(sim, cfg)
        asked2 = _asked(_monitor_requests(sim, since))
    assert set(asked2) == set(second_pools)
    kept = set(first_pools) & set(second_pools)
    assert kept
    for key, queries in asked2.items():
        # a pool with stored points: from its latest one (re-read: it may have been partial) to the new hour
        start = end1 - H if key in kept and want[key[1]] else end2 - 60 * DAY
        assert {q["time_range"] for q in queries} == {f"{start}.{end2}.{(end2 - start) // 60_000}"}
    keys = query_catalog(db, 'SELECT count(*), count(DISTINCT (region, project_id, pool_id, metric, statistic, measured_at)) '
                             "FROM pool_metrics")
    assert keys[0][0] == keys[0][1]  # overlapping windows never duplicate a point
    got2 = dict(query_catalog(db, "SELECT pool_id, count(*) FROM pool_metrics GROUP BY ALL"))
    for key in kept:
        s1, s2 = first_pools[key], second_pools[key]
        assert _metrics(s1) == _metrics(s2)
        # the union of [end1 - 60 d, end1) and [end1 - 1 h, end2): one hour more than the first snapshot held
        assert got2.get(key[1], 0) == 2 * _metrics(s2) * _hours(s2, end1 - 60 * DAY, end2)
    # the re-read hour is the second snapshot's
    latest = query_catalog(db, "SELECT DISTINCT snapshot_id FROM pool_metrics WHERE epoch_ms(measured_at) = "
                               f"{end1 - H}")
    assert latest == [[datetime.fromtimestamp(end2 / 1000, timezone.utc).strftime("%Y%m%dT%H%M%SZ")]]


def test_switched_off_makes_no_call(tmp_path):
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=3, seed=5, ak=AK, sk=SK)) as sim:
        _snapshot(sim, _config(sim, tmp_path, pool_monitor=False))
        assert _monitor_requests(sim) == []
    db = Layout(tmp_path / "data").catalog
    assert query_catalog(db, "SELECT count(*) FROM fetches WHERE call = 'pool_monitor'") == [[0]]
    assert query_catalog(db, "SELECT count(*) FROM pool_metrics") == [[0]]


def test_a_pool_the_listing_did_not_return_is_never_asked(tmp_path):
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=5, seed=8, ak=AK, sk=SK)) as sim:
        glitched = sim.projects[0].id
        # the listing leaves out every other pool (a 200 that lies): nothing in the lake yet to confirm them
        sim.inject("partial_listing", project_id=glitched, path_contains=f"/v2/{glitched}/pools")
        _snapshot(sim, _config(sim, tmp_path, monitor_backfill_days=2))
        asked = _asked(_monitor_requests(sim))
        everyone = _readable(sim)
    db = Layout(tmp_path / "data").catalog
    listed = {(pid, pool) for pid, pool in query_catalog(db, "SELECT project_id, pool_id FROM pools")}
    assert set(asked) == listed
    left_out = set(everyone) - listed
    assert left_out and all(pid == glitched for pid, _ in left_out)
    # collect.monitor_backfill_days: 2 days back, 2,880 minutes
    assert {q["time_range"].split(".")[2] for qs in asked.values() for q in qs} == {"2880"}


def test_a_failed_statistic_is_asked_again_and_an_old_cursor_is_capped_at_60_days(tmp_path):
    with run_simulator(SimulatorConfig(projects=1, pools_per_project=4, seed=3, ak=AK, sk=SK)) as sim:
        cfg = _config(sim, tmp_path)
        pid = sim.projects[0].id
        states = {s.name: s for s in sim.fleet.pool_states(pid)}
        broken = min(states)
        # one of the broken pool's two calls fails (503, no retry): it has no cursor, the others have one
        sim.inject("error", count=1, project_id=pid, path_contains=f"/pools/{broken}/monitor", status=503)
        _snapshot(sim, cfg)
        db = Layout(tmp_path / "data").catalog
        assert query_catalog(db, "SELECT pool_id, outcome FROM fetches WHERE call = 'pool_monitor' "
                                 "AND outcome = 'error'") == [[broken, "error"]]
        since = len(sim.requests)
        sim.advance(hours=2)
        end2 = ms(sim.fleet.now)
        _snapshot(sim, cfg)
        asked = _asked(_monitor_requests(sim, since))
        stored = {pool for (pool,) in query_catalog(db, "SELECT DISTINCT pool_id FROM pool_metrics")}
        assert {q["time_range"] for q in asked[(pid, broken)]} == {f"{end2 - 60 * DAY}.{end2}.86400"}
        others = [p for p in stored if p != broken and (pid, p) in asked]
        assert others
        for pool in others:  # from the point before the first snapshot's end: 3 hours
            assert {q["time_range"] for q in asked[(pid, pool)]} == {f"{end2 - 3 * H}.{end2}.180"}

        # 61 days later every cursor is older than the 60 days one call may cover: 86,400 minutes, 1,440 points
        since = len(sim.requests)
        sim.advance(hours=61 * 24)
        end3 = ms(sim.fleet.now)
        _snapshot(sim, cfg)
        requests = _monitor_requests(sim, since)
    assert requests and all(r.status == 200 for r in requests)
    assert {parse_query(r.query)["time_range"] for r in requests} == {f"{end3 - 60 * DAY}.{end3}.86400"}
    keys = query_catalog(db, 'SELECT count(*), count(DISTINCT (pool_id, metric, statistic, measured_at)) FROM pool_metrics')
    assert keys[0][0] == keys[0][1]


def test_the_window_runs_from_the_cursor_to_the_snapshots_hour(tmp_path):
    from pipeline.land.fetch import Fetcher
    from pipeline.land.landing import RawLanding, TargetRef

    (tmp_path / "poolscope.yaml").write_text(
        "storage: {root: data}\ncollect: {monitor_backfill_days: 60}\n"
        "targets: [{region: cn-north-4, project_id: 0123456789abcdef0123456789abcdef}]\n")
    at = datetime(2026, 11, 1, 10, 30, 15, tzinfo=timezone.utc)
    hour = datetime(2026, 11, 1, 10, tzinfo=timezone.utc)
    landing = RawLanding(Layout(tmp_path / "data"), "20261101T103015Z", at)
    try:
        cursors = {"pool_monitor": {("r1", "p", "fresh"): hour - timedelta(hours=1),
                                    ("r1", "p", "odd"): datetime(2026, 11, 1, 7, 45, tzinfo=timezone.utc),
                                    ("r1", "p", "stale"): hour - timedelta(days=90),
                                    ("r1", "p", "ahead"): hour,
                                    ("r2", "p", "fresh"): hour - timedelta(hours=5)}}
        fetcher = Fetcher(load_config(tmp_path / "poolscope.yaml"), AkSkCredentials(AK, SK), landing, cursors=cursors)
        ref = TargetRef("r1", "p", "http://127.0.0.1:9")
        assert fetcher.monitor_window(ref, "fresh") == (hour - timedelta(hours=1), hour)   # its last hour, re-read
        assert fetcher.monitor_window(ref, "odd") == (hour - timedelta(hours=3), hour)     # from its hour
        assert fetcher.monitor_window(ref, "stale") == (hour - timedelta(days=60), hour)   # capped: 1,440 points
        assert fetcher.monitor_window(ref, "new") == (hour - timedelta(days=60), hour)     # no cursor: backfill
        assert fetcher.monitor_window(ref, "ahead") is None                                # nothing to ask
        start, end = fetcher.monitor_window(ref, "stale")
        assert (end - start).total_seconds() / 60 * 60 / 3600 == 1440
    finally:
        landing.abandon()
