"""The simulator's ShowPoolMonitor: the reference's shape, the 1,440-point limit, windows that respect the pool's
life and the fleet's clock, and values that follow the pool's daily rhythm."""

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.simulator import SimulatorConfig, run_simulator
from pipeline.simulator.catalog import FLAVORS
from pipeline.simulator.runtime import busy_share, profile
from simkit import call

H = 3_600_000  # an hour in ms
DAY = 24 * H


@pytest.fixture(scope="module")
def sim():
    with run_simulator(SimulatorConfig(projects=3, pools_per_project=8, seed=11)) as s:
        yield s


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def monitor(sim, pid: str, pool: str, query: str):
    return call(sim, "GET", f"/v2/{pid}/pools/{pool}/monitor", query)


def pools(sim):
    """(project id, PoolState) of every readable project's pools."""
    return [(p.id, s) for p in sim.projects if not p.forbidden for s in sim.fleet.pool_states(p.id)]


def old_pool(sim):
    """A pool older than 60 days: every point of a 60-day window is there."""
    now = sim.fleet.now
    return next((pid, s) for pid, s in pools(sim) if s.created_at < now - timedelta(days=61))


def kinds(state) -> set[str]:
    return {FLAVORS[a.flavor].kind for a in state.allocations}


def test_shape_as_the_reference_shows_it(sim):
    end = ms(sim.fleet.now)
    seen = set()
    for pid, state in pools(sim):
        answer = monitor(sim, pid, state.name, f"period=3600&statistics=average&time_range={end - DAY}.{end}.1440")
        assert answer.status == 200
        doc = answer.json()
        names = [m["metric"]["metricName"] for m in doc["metrics"]]
        want = ["cpuUsage", "memUsedRate"] + (["gpuUtil", "gpuMemUsage"] if "gpu" in kinds(state) else []) + (
            ["npuUtil", "npuMemUsage"] if "npu" in kinds(state) else [])
        assert names == want
        seen |= set(names)
        clusters = set()
        for m in doc["metrics"]:
            assert set(m) == {"metric", "dataPoints"}
            assert m["metric"]["namespace"] == "PAAS.AGGR"
            (dim,) = m["metric"]["dimensions"]
            assert dim["name"] == "clusterId"
            clusters.add(dim["value"])
            for p in m["dataPoints"]:
                assert set(p) == {"timestamp", "unit", "statistics"} and p["unit"] == "Percent"
                assert isinstance(p["timestamp"], int) and p["timestamp"] % H == 0   # epoch ms, on the hour
                (stat,) = p["statistics"]
                assert stat["statistic"] == "average" and isinstance(stat["value"], (int, float))
        assert len(clusters) == 1
        (cluster,) = clusters
        assert len(cluster) == 36 and cluster.count("-") == 4  # a CCE cluster id (a UUID), not the pool name
    assert {"gpuUtil", "npuUtil"} <= seen  # the fleet has GPU pools and NPU pools


def test_the_cluster_id_is_stable_and_sub_pools_share_their_parents(sim):
    end = ms(sim.fleet.now)
    q = f"period=3600&time_range={end - H}.{end}.60"
    ids = {}
    for pid, state in pools(sim):
        first = monitor(sim, pid, state.name, q).json()["metrics"][0]["metric"]["dimensions"][0]["value"]
        again = monitor(sim, pid, state.name, q).json()["metrics"][0]["metric"]["dimensions"][0]["value"]
        assert first == again
        ids[state.name] = (first, state.root)
    by_root = {}
    for cluster, root in ids.values():
        by_root.setdefault(root, set()).add(cluster)
    assert all(len(c) == 1 for c in by_root.values())
    assert len({c for cs in by_root.values() for c in cs}) == len(by_root)  # one cluster per physical pool


def test_points_are_aligned_and_counted_by_the_window(sim):
    pid, state = old_pool(sim)
    end = ms(sim.fleet.now)  # 2026-11-01T00:00Z, on the hour
    # 24 h at one hour: 24 points, the first at the start, the last an hour before the end
    doc = monitor(sim, pid, state.name, f"period=3600&statistics=maximum&time_range={end - DAY}.{end}.1440").json()
    stamps = [p["timestamp"] for p in doc["metrics"][0]["dataPoints"]]
    assert stamps == [end - DAY + i * H for i in range(24)]
    # a start off the grid: the first point is the next period boundary; 15-minute periods over 2 h 10 min
    start = end - 2 * H - 10 * 60_000
    doc = monitor(sim, pid, state.name, f"period=900&statistics=average&time_range={start}.{end}.130").json()
    stamps = [p["timestamp"] for p in doc["metrics"][0]["dataPoints"]]
    assert stamps == [end - 2 * H + i * 900_000 for i in range(8)]
    # 24 h at one minute is exactly the limit: 1,440 points
    doc = monitor(sim, pid, state.name, f"period=60&time_range={end - DAY}.{end}.1440").json()
    assert len(doc["metrics"][0]["dataPoints"]) == 1440
    # 60 days at one hour too
    doc = monitor(sim, pid, state.name, f"period=3600&time_range={end - 60 * DAY}.{end}.86400").json()
    assert len(doc["metrics"][0]["dataPoints"]) == 1440


@pytest.mark.parametrize("query", [
    "period=60&time_range={s1}.{end}.1441",              # 24 h + 1 min at one minute: 1,441 points
    "period=3600&time_range={s61}.{end}.87840",          # 61 days at one hour: 1,464 points
    "period=300&time_range={s5}.{end}.7205",             # 7,205 min at 5 min: 1,441 points
])
def test_more_than_1440_points_is_the_services_400(sim, query):
    pid, state = old_pool(sim)
    end = ms(sim.fleet.now)
    q = query.format(end=end, s1=end - DAY - 60_000, s61=end - 61 * DAY, s5=end - 7205 * 60_000)
    answer = monitor(sim, pid, state.name, q)
    assert answer.status == 400
    body = answer.json()
    # a service error: error_code and error_msg only (no request_id in the body, as ModelArts' own errors)
    assert set(body) == {"error_code", "error_msg"} and body["error_code"] == "ModelArts.50004000"
    assert "1440" in body["error_msg"]
    assert sim.requests[-1].status == 400 and sim.requests[-1].error_code == "ModelArts.50004000"


@pytest.mark.parametrize("time_range", [
    "abc", "1.2", "1.2.3.4", "a.b.c", "1793491200000.1793487600000.60",   # end before start
    "1793487600000.1793491200000.600",                                     # 60 min apart, says 600
    "1793487600000.1793491200000.0", "1793487600000.1793491200000.-5",     # no duration
    "-2.1793491200000.60", "1793487600000.5e12.60", "",
])
def test_a_garbled_or_inconsistent_time_range_is_a_400(sim, time_range):
    pid, state = old_pool(sim)
    answer = monitor(sim, pid, state.name, f"period=3600&time_range={time_range}")
    assert answer.status == 400 and answer.json()["error_code"] == "ModelArts.50004000"


@pytest.mark.parametrize("query", ["statistics=median", "statistics=Average", "period=120", "period=abc"])
def test_a_bad_statistic_or_period_is_a_400(sim, query):
    pid, state = old_pool(sim)
    answer = monitor(sim, pid, state.name, query)
    assert answer.status == 400 and answer.json()["error_code"] == "ModelArts.50004000"


def test_either_reading_of_the_duration_bound_is_accepted(sim):
    """durationMin = span (the web pages' >= span - 1, what poolscope sends) and span - 1 (the SDK's <=)."""
    pid, state = old_pool(sim)
    end = ms(sim.fleet.now)
    for duration in (120, 119):
        assert monitor(sim, pid, state.name, f"period=3600&time_range={end - 2 * H}.{end}.{duration}").status == 200


def test_defaults_the_last_hour_at_one_minute_as_maximum(sim):
    pid, state = old_pool(sim)
    now = ms(sim.fleet.now)
    for query in ("", "time_range=-1.-1.60", f"time_range=-1.{now}.60", f"time_range={now - H}.-1.60"):
        doc = monitor(sim, pid, state.name, query).json()
        points = doc["metrics"][0]["dataPoints"]
        assert [p["timestamp"] for p in points] == [now - H + i * 60_000 for i in range(60)], query
        assert {p["statistics"][0]["statistic"] for p in points} == {"maximum"}


def test_no_point_before_the_pool_existed_nor_after_now(sim):
    now = sim.fleet.now
    young = [(pid, s) for pid, s in pools(sim) if s.created_at > now - timedelta(hours=6)]
    assert young, "the fleet has pools created in the last hours"
    end = ms(now)
    for pid, state in young:
        doc = monitor(sim, pid, state.name, f"period=3600&time_range={end - DAY}.{end}.1440").json()
        created = ms(state.created_at)
        first = created - created % H  # the hour the pool was created in
        want = list(range(first, end, H))
        for m in doc["metrics"]:
            assert [p["timestamp"] for p in m["dataPoints"]] == want
    # a window reaching past the fleet's clock stops at the period under way
    pid, state = old_pool(sim)
    doc = monitor(sim, pid, state.name, f"period=3600&time_range={end - 2 * H}.{end + 5 * H}.420").json()
    assert [p["timestamp"] for p in doc["metrics"][0]["dataPoints"]] == [end - 2 * H, end - H, end]


def test_unknown_pool_is_the_services_404(sim):
    pid = sim.projects[0].id
    answer = monitor(sim, pid, "pool-00000000-0000-0000-0000-000000000000", "")
    assert answer.status == 404 and answer.json() == {"error_code": "ModelArts.50015001", "error_msg": "pool not found"}


def _series(sim, pid, pool, statistic, start, end, period=3600):
    doc = monitor(sim, pid, pool, f"period={period}&statistics={statistic}&time_range={start}.{end}."
                                  f"{(end - start) // 60_000}").json()
    return {m["metric"]["metricName"]: {p["timestamp"]: p["statistics"][0]["value"] for p in m["dataPoints"]}
            for m in doc["metrics"]}


def test_values_follow_the_pools_daily_rhythm(sim):
    """Hourly averages are the pool's busy share (runtime metrics' rhythm) times a constant per pool and metric;
    the maximum of an hour is never below its average; nothing exceeds 100 %; -1 is a gap, for every statistic
    of the point alike."""
    end = ms(sim.fleet.now)
    start = end - 14 * DAY
    seed = sim.fleet.seed
    gaps = points = 0
    seen_profiles = {}
    for pid, state in pools(sim):
        avg = _series(sim, pid, state.name, "average", start, end)
        mx = _series(sim, pid, state.name, "maximum", start, end)
        mn = _series(sim, pid, state.name, "minimum", start, end)
        kind = profile(seed, state.name)
        for metric, series in avg.items():
            ratios = set()
            for t, a in series.items():
                points += 1
                if a == -1:
                    gaps += 1
                    assert mx[metric][t] == -1 and mn[metric][t] == -1
                    continue
                assert 0 <= mn[metric][t] <= a <= mx[metric][t] <= 100
                share = busy_share(seed, state.name, datetime.fromtimestamp(t / 1000, timezone.utc))
                if 0.05 < share < 1 and a < 100:
                    ratios.add(round(a / (100 * share), 1))
                seen_profiles.setdefault(kind, []).append(a)
            assert len(ratios) <= 2, (state.name, metric, ratios)  # one constant, give or take the rounding
    assert 0 < gaps < 0.05 * points  # occasional no-data points
    idle, saturated = seen_profiles["idle"], seen_profiles["saturated"]
    assert max(idle) <= 5.25 + 1e-9          # 15 % held at most, and an idle pool uses a third of that
    assert sum(saturated) / len(saturated) > 50


def test_finer_periods_and_other_statistics(sim):
    pid, state = old_pool(sim)
    end = ms(sim.fleet.now)
    start = end - 2 * H
    avg = _series(sim, pid, state.name, "average", start, end, period=300)
    total = _series(sim, pid, state.name, "sum", start, end, period=300)
    count = _series(sim, pid, state.name, "sampleCount", start, end, period=300)
    for metric in avg:
        assert len(avg[metric]) == 24
        for t, a in avg[metric].items():
            if a == -1:
                continue
            assert count[metric][t] == 5                       # a 5-minute period holds five 1-minute samples
            assert total[metric][t] == pytest.approx(a * 5, abs=0.05)


def test_the_same_question_gets_the_same_answer(sim):
    pid, state = old_pool(sim)
    end = ms(sim.fleet.now)
    q = f"period=3600&statistics=average&time_range={end - 3 * DAY}.{end}.4320"
    assert monitor(sim, pid, state.name, q).body == monitor(sim, pid, state.name, q).body
