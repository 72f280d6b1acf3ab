"""What the pools are used for: capacity_utilization's USE columns, idle_capacity and pressure, on a small fixed
fleet whose expected figures are computed by hand below.

One project, one daily snapshot at 00:00 UTC on four days, schedule period 24 h: each snapshot's readings hold
for exactly its day.
- pool-g: 2 available nodes of flavor f8 (nvidia-a100, 8 cards per node): 16 cards, 64 cores, 256 GiB.
    day 1: 0 cards allocated            -> unallocated (share 0 < 10 %)
    day 2: 1 card  allocated (6.25 %)   -> unallocated
    day 3: 4 cards allocated (25 %), measured gpuUtil 5 % on average (one hour -1: no data)
                                        -> allocated_not_used
    day 4: 12 cards allocated (75 %), measured 60 %  -> busy
  cpu allocated: "16000m" of 64 (25 %) every day; memory "64Gi" of "256Gi".
- pool-q: 1 available node of the CPU-only flavor fcpu, 8 cores.
    day 1: 8 of 8 cores allocated, 3 train jobs queued  -> pressure all day
    day 2: 6 of 8 allocated ("2" free), 2 queued        -> queued, not pressure
    day 3, 4: nothing queued
Prices: f8 pay_per_use 8.0 EUR per node-hour.
"""

from datetime import date, datetime, timedelta, timezone

import duckdb
import pytest

from lakekit import flavor_doc, pool_doc, publish_snapshot, utc
from pipeline.reports.tables import IdleRule, report_arrow

DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(4)]
G_ALLOCATED = ["0", "1", 4, "12"]  # cards allocated on pool-g per day (number or quantity text)
Q_CPU = [("8", "8", "0", 3), ("8", "6", "2", 2), ("8", "1", "7", 0), ("8", "1", "7", 0)]  # cap, alloc, free, queued


def _runtime(i: int) -> dict:
    at = f"{DAYS[i].isoformat()}T00:00:00Z"
    g_alloc = G_ALLOCATED[i]
    g_free = 16 - int(g_alloc)
    cap, alloc, free, queued = Q_CPU[i]

    def item(name, capacity, allocated, available, queue):
        return {"metadata": {"name": name},
                "table": {"capacity": {"value": capacity, "timestamp": at, "window": "1m"},
                          "allocated": {"value": allocated, "timestamp": at, "window": "1m"},
                          "available": {"value": available, "timestamp": at, "window": "1m"},
                          "workload": {"allocated": {"train": 1}, "queue": {"train": queue, "infer": 0}}}}
    return {"apiVersion": "v1", "kind": "PoolMetricsList", "items": [
        item("pool-g", {"cpu": 64, "memory": "256Gi", "nvidia.com/gpu": "16"},
             {"cpu": "16000m", "memory": "64Gi", "nvidia.com/gpu": g_alloc},
             {"cpu": "48", "memory": "192Gi", "nvidia.com/gpu": g_free}, 0),
        item("pool-q", {"cpu": cap, "memory": "32Gi"}, {"cpu": alloc, "memory": "8Gi"},
             {"cpu": free, "memory": "24Gi"}, queued),
    ]}


def _monitor(i: int) -> dict | None:
    """gpuUtil of pool-g over day i (hourly): average 5 % on day 3 (hour 5: -1), 60 % on day 4; maxima = the
    hour number on day 3 (0..23), 90 on day 4."""
    if i < 2:
        return None
    start = int(datetime(DAYS[i].year, DAYS[i].month, DAYS[i].day, tzinfo=timezone.utc).timestamp() * 1000)
    points = []
    for h in range(24):
        avg = (-1 if h == 5 else 5.0) if i == 2 else 60.0
        peak = float(h) if i == 2 else 90.0
        points.append({"timestamp": start + h * 3_600_000, "unit": "Percent",
                       "statistics": [{"statistic": "average", "value": avg}]})
        points.append({"timestamp": start + h * 3_600_000, "unit": "Percent",
                       "statistics": [{"statistic": "maximum", "value": peak}]})
    return {"metrics": [{"metric": {"metricName": "gpuUtil", "namespace": "PAAS.AGGR",
                                    "dimensions": [{"name": "clusterId", "value": "cce-g"}]},
                         "dataPoints": points}]}


@pytest.fixture(scope="module")
def usage_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("usage")
    for i, day in enumerate(DAYS):
        pools = [pool_doc("pool-g", requested={"f8": 2}, available={"f8": 2}),
                 pool_doc("pool-q", requested={"fcpu": 1}, available={"fcpu": 1})]
        monitor = _monitor(i)
        publish_snapshot(root, utc(day.year, day.month, day.day, 0), {("r1", "p1"): pools},
                         flavors={("r1", "p1"): [flavor_doc("f8", gpu=("nvidia-a100", 8)), flavor_doc("fcpu")]},
                         runtime={("r1", "p1"): _runtime(i)},
                         monitor={("r1", "p1", "pool-g"): [("period=3600&statistics=average", monitor)]}
                         if monitor else None)
    prices = root / "prices.csv"
    prices.write_text("flavor,billing_mode,price_per_node_hour,currency\nf8,pay_per_use,8.0,EUR\n")
    con = duckdb.connect(str(root / "inventory.duckdb"), read_only=True)
    yield con, prices
    con.close()


def _rows(con, name, from_day, to_day, prices=None, **kw):
    return report_arrow(con, name, from_day, to_day, period_hours=24.0, prices=prices, **kw).to_pylist()


def test_allocated_shares_measured_use_and_queues_per_level(usage_lake):
    con, _ = usage_lake
    rows = _rows(con, "capacity_utilization", DAYS[0], DAYS[3])
    pool = {(r["day"], r["pool_id"]): r for r in rows if r["level"] == "pool"}
    total = {r["day"]: r for r in rows if r["level"] == "all"}
    g = [pool[(d, "pool-g")] for d in DAYS]
    assert [r["allocatable_card_hours"] for r in g] == [16 * 24.0] * 4
    assert [r["allocated_card_hours"] for r in g] == [0.0, 24.0, 96.0, 288.0]
    assert [r["allocated_card_share"] for r in g] == [0.0, 0.0625, 0.25, 0.75]
    assert [r["allocated_cpu_share"] for r in g] == [0.25] * 4
    assert [r["allocated_memory_share"] for r in g] == [0.25] * 4
    assert [r["allocation_hours"] for r in g] == [24.0] * 4
    # measured: day 3 = mean of 23 hourly averages of 5 % (hour 5 was -1: no data, not a value)
    assert [r["accelerator_util_mean"] for r in g] == [None, None, 5.0, 60.0]
    assert [r["measured_hours"] for r in g] == [0.0, 0.0, 23.0, 24.0]
    # p95 of the hourly maxima 0..23: 0.95 x 23 = 21.85 (linear interpolation)
    assert g[2]["accelerator_util_p95_max"] == pytest.approx(21.85)
    assert g[3]["accelerator_util_p95_max"] == 90.0
    q = [pool[(d, "pool-q")] for d in DAYS]
    assert [r["allocated_card_share"] for r in q] == [None] * 4  # CPU-only: no cards
    assert [r["allocated_cpu_share"] for r in q] == [1.0, 0.75, 0.125, 0.125]
    assert [r["queued_hours"] for r in q] == [24.0, 24.0, 0.0, 0.0]
    assert [r["pressure_hours"] for r in q] == [24.0, 0.0, 0.0, 0.0]
    # the total: cores of both pools, (16 + 8) / (64 + 8) allocated on day 1; cards are pool-g's alone
    assert total[DAYS[0]]["allocated_cpu_share"] == pytest.approx(24 / 72)
    assert total[DAYS[3]]["allocated_card_share"] == 0.75
    assert total[DAYS[0]]["queued_hours"] == 24.0 and total[DAYS[0]]["pressure_hours"] == 24.0
    assert total[DAYS[2]]["accelerator_util_mean"] == 5.0  # the only measured pool
    # a pool with one flavor carries its USE columns on its flavor row too
    flavor = {(r["day"], r["pool_id"]): r for r in rows if r["level"] == "flavor"}
    assert flavor[(DAYS[3], "pool-g")]["allocated_card_share"] == 0.75


def test_idle_capacity_reasons_streaks_and_cost(usage_lake):
    con, prices = usage_lake
    rows = _rows(con, "idle_capacity", DAYS[0], DAYS[3], prices=prices)
    got = [(r["day"], r["pool_id"], r["idle_reason"], r["idle_days"], r["flagged"]) for r in rows]
    assert got == [(DAYS[0], "pool-g", "unallocated", 1, False),
                   (DAYS[1], "pool-g", "unallocated", 2, False),
                   (DAYS[2], "pool-g", "allocated_not_used", 3, True)]  # day 4 is busy: no row
    d1, d2, d3 = rows
    # day 2: 15 unallocated cards x 24 h; day 3: 12 unallocated + the 4 allocated ones measured at 5 %
    assert [r["idle_card_hours"] for r in rows] == [384.0, 360.0, 384.0]
    assert d2["idle_share"] == 360 / 384
    # cost: 2 nodes x 24 h x 8 EUR = 384 EUR a day for 16 x 24 = 384 card-hours: 1 EUR per card-hour
    assert [r["estimated_cost"] for r in rows] == [384.0] * 3
    assert [r["estimated_idle_cost"] for r in rows] == [384.0, 360.0, 384.0]
    assert {r["currency"] for r in rows} == {"EUR"}
    assert d1["flavors"] == "f8" and d1["accelerator_type"] == "nvidia-a100"
    # a streak is never cut by the report's range: from day 2, day 2 is the streak's second day
    later = _rows(con, "idle_capacity", DAYS[1], DAYS[3])
    assert [(r["day"], r["idle_days"]) for r in later] == [(DAYS[1], 2), (DAYS[2], 3)]
    # the rule is configurable: at 30 %, day 3's 25 % allocation is "unallocated" and day 4 (75 %, 60 %) busy;
    # after 2 days a pool is flagged
    strict = _rows(con, "idle_capacity", DAYS[0], DAYS[3], idle=IdleRule(threshold_percent=30, days=2))
    assert [(r["idle_reason"], r["flagged"]) for r in strict] == [
        ("unallocated", False), ("unallocated", True), ("unallocated", True)]


def test_pressure_lists_queued_pools_without_free_capacity(usage_lake):
    con, _ = usage_lake
    rows = _rows(con, "pressure", DAYS[0], DAYS[3])
    assert [(r["day"], r["pool_id"], r["pressure_hours"], r["queued_hours"], r["max_queued"], r["mean_queued"])
            for r in rows] == [(DAYS[0], "pool-q", 24.0, 24.0, 3, 3.0)]  # day 2 queued with 2 free cores
    assert rows[0]["allocated_cpu_share"] == 1.0 and rows[0]["flavors"] == "fcpu"
