"""Reports on small hand-made fleets, checked against values computed by hand (see the timelines below).

The documents go through the real pipeline (tests/lakekit.py: landing, normalize, commit, catalog).

Fleet A, schedule period 1 h, D1 = 2026-11-01, D2 = 2026-11-02, all in region r1. Snapshots:
    s1 D1 20:30   s2 D1 21:30   s3 D1 22:30   s4 D1 23:30   s5 D2 00:30   s6 D2 05:30   s7 D2 06:30
so s4 -> s5 crosses midnight (0.5 h on each day), s5 -> s6 is a 5 h hole (2 h credited, 3 h gap), and the
horizon is s7 + 1 h = D2 07:30 (s7 holds 1 h). Per project:
    p1  pool-a  Dedicate, pay-per-use, requested f1:4, available f1:2, abnormal f1:1
        pool-b  Logical sub-pool of pool-a, no billing annotation, requested f1:1, available f1:1
    p2  pool-c  Dedicate, pay-per-use, available f1:1; p2's listing fails (403) at s2 and s3
    p3  pool-d  yearly/monthly (month x 1, no auto-renew), available f1:2; gone from p3's listing from s3
        pool-e  no billing annotation, available fcpu:1 (a CPU-only flavor)
        pool-f  billing annotation "7", available fx:3 (a flavor missing from the catalog)
    p4  pool-y  yearly (year x 1, auto-renew off), created 2026-03-15, available f1:1
        pool-m  monthly (month x 2, auto-renew on), created 2026-06-30 12:00, available f1:1
        pool-z  pay-per-use at s1, s2; yearly/monthly (month x 1, auto-renew off) from s3; available f1:1
    p5  pool-s  no listing: a show_pool target, ok at s1 and s2, 404 (pool not found) from s3 on
Flavor catalog of r1: f1 = GPU nvidia-t4 x 8 cards, fcpu = CPU only.
"""

from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from lakekit import flavor_doc, pool_doc, publish_snapshot, utc

from pipeline.catalog.docs import SQL_ROOT, parse_header
from pipeline.reports.tables import REPORTS, build_reports, load_prices, report_arrow

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
TIMES = [utc(2026, 11, 1, 20, 30), utc(2026, 11, 1, 21, 30), utc(2026, 11, 1, 22, 30), utc(2026, 11, 1, 23, 30),
         utc(2026, 11, 2, 0, 30), utc(2026, 11, 2, 5, 30), utc(2026, 11, 2, 6, 30)]
PRICES = "flavor,billing_mode,price_per_node_hour,currency\nf1,pay_per_use,2.5,EUR\nf1,yearly_monthly,1.0,EUR\n"


def _fleet_a(i: int) -> tuple[dict, dict]:
    """Listings and show_pool results of snapshot s<i+1>."""
    p1 = [pool_doc("pool-a", requested={"f1": 4}, available={"f1": 2}, abnormal={"f1": 1}),
          pool_doc("pool-b", pool_type="Logical", parent="pool-a", billing_mode=None,
                   requested={"f1": 1}, available={"f1": 1})]
    p2 = 403 if i in (1, 2) else [pool_doc("pool-c", available={"f1": 1})]
    p3 = [pool_doc("pool-e", billing_mode=None, available={"fcpu": 1}),
          pool_doc("pool-f", billing_mode="7", available={"fx": 3})]
    if i < 2:
        p3.append(pool_doc("pool-d", billing_mode="1", period_type="2", period_num="1", auto_renew="0",
                           created="2026-10-15T00:00:00Z", available={"f1": 2}))
    z_billing = {"billing_mode": "0"} if i < 2 else {"billing_mode": "1", "period_type": "2", "period_num": "1",
                                                      "auto_renew": "0"}
    p4 = [pool_doc("pool-y", billing_mode="1", period_type="3", period_num="1", auto_renew="0",
                   created="2026-03-15T00:00:00Z", order_id="CS-Y", available={"f1": 1}),
          pool_doc("pool-m", billing_mode="1", period_type="2", period_num="2", auto_renew="1",
                   created="2026-06-30T12:00:00Z", order_id="CS-M", available={"f1": 1}),
          pool_doc("pool-z", created="2026-09-01T00:00:00Z", available={"f1": 1}, **z_billing)]
    shows = {("r1", "p5", "pool-s"): pool_doc("pool-s", available={"f1": 1}) if i < 2 else 404}
    return {("r1", "p1"): p1, ("r1", "p2"): p2, ("r1", "p3"): p3, ("r1", "p4"): p4}, shows


@pytest.fixture(scope="module")
def fleet_a(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fleet_a")
    for i, at in enumerate(TIMES):
        listings, shows = _fleet_a(i)
        publish_snapshot(root, at, listings, shows=shows,
                         flavors={("r1", "p1"): [flavor_doc("f1", gpu=("nvidia-t4", 8)), flavor_doc("fcpu")]},
                         runtime=_runtime_a())
    return root


def _runtime_a() -> dict:
    """Allocation of pool-a (idle: none of its 16 cards held) and pool-e (queued with no free core)."""
    def item(name, capacity, allocated, available, queued):
        return {"metadata": {"name": name}, "table": {
            "capacity": {"value": capacity}, "allocated": {"value": allocated}, "available": {"value": available},
            "workload": {"allocated": {"train": 1}, "queue": {"train": queued}}}}
    return {("r1", "p1"): {"items": [item("pool-a", {"cpu": 16, "nvidia.com/gpu": 16}, {"cpu": 1, "nvidia.com/gpu": 0},
                                          {"cpu": 15, "nvidia.com/gpu": 16}, 0)]},
            ("r1", "p3"): {"items": [item("pool-e", {"cpu": 8}, {"cpu": 8}, {"cpu": 0}, 2)]}}


@pytest.fixture(scope="module")
def con_a(fleet_a):
    con = duckdb.connect(str(fleet_a / "inventory.duckdb"), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def price_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prices") / "prices.csv"
    path.write_text(PRICES, encoding="utf-8")
    return path


def rows(con, name, from_day=D1, to_day=D2, **kw) -> list[dict]:
    return report_arrow(con, name, from_day, to_day, **kw).to_pylist()


def pick(report: list[dict], **keys) -> dict:
    found = [r for r in report if all(r[k] == v for k, v in keys.items())]
    assert len(found) == 1, (keys, found)
    return found[0]


def cap_row(report, day, level, pool_id=None, flavor=None, project_id=None, region="r1"):
    keys = {"day": day, "level": level, "flavor": flavor, "pool_id": pool_id}
    if level in ("flavor", "pool", "project"):
        keys["region"] = region
    if level == "project":
        keys["project_id"] = project_id
    if level == "all":
        keys.pop("pool_id")
    return pick(report, **keys)


# ------------------------------------------------------------------------------------ capacity_utilization


@pytest.fixture(scope="module")
def capacity(con_a):
    return rows(con_a, "capacity_utilization")


def test_hourly_node_hours_split_at_midnight_and_the_hole_is_a_gap(capacity):
    # pool-a D1: s1..s4 hold 1 h each, s4 holds 23:30-24:00 on D1 -> 3.5 h observed
    a1 = cap_row(capacity, D1, "flavor", "pool-a", "f1")
    assert a1["observed_hours"] == 3.5 and a1["gap_hours"] == 0 and a1["has_gap"] is False
    assert a1["requested_node_hours"] == 14          # 4 x 3.5
    assert a1["requested_nodes"] == 4                # 14 / 3.5: time-weighted average
    assert a1["available_node_hours"] == 7           # 2 x 3.5
    assert a1["abnormal_node_hours"] == 3.5
    assert a1["creating_node_hours"] == 0 and a1["deleting_node_hours"] == 0
    assert a1["provisioned_node_hours"] == 10.5
    assert a1["available_share_of_requested"] == 0.5
    assert a1["abnormal_share"] == pytest.approx(1 / 3)
    assert a1["carried_hours"] == 0                  # every hour was seen by the snapshot due in it
    # D2: 00:00-00:30 (s4) + 00:30-02:30 (s5, capped at 2 h) + s6 1 h + s7 1 h (to the horizon) = 4.5 h held;
    # of s5's 2 h, 01:30-02:30 is past one period (the 01:30 snapshot never came): carried, 3.5 h observed;
    # 02:30-05:30 is the gap (next snapshot 5 h after s5)
    a2 = cap_row(capacity, D2, "pool", "pool-a")
    assert (a2["observed_hours"], a2["carried_hours"]) == (3.5, 1)
    assert a2["gap_hours"] == 3 and a2["has_gap"] is True
    assert a2["available_node_hours"] == 9 and a2["abnormal_node_hours"] == 4.5
    assert a2["requested_node_hours"] == 18 and a2["requested_nodes"] == 4


def test_failed_listing_holds_counts_only_up_to_the_cap(capacity):
    # p2 failed (403) at s2 and s3: s1's count holds 20:30-22:30 (cap 2 h), of which 21:30-22:30 is carried
    # (s2 did not see it); 22:30-23:30 is a gap; s4 holds 0.5 h
    c1 = cap_row(capacity, D1, "pool", "pool-c")
    assert (c1["observed_hours"], c1["carried_hours"]) == (1.5, 1)
    assert c1["gap_hours"] == 1 and c1["has_gap"] is True
    assert c1["available_node_hours"] == 2.5          # observed and carried hours are both credited
    p2 = cap_row(capacity, D1, "project", project_id="p2")
    assert p2["has_gap"] is True and p2["carried_hours"] == 1
    c2 = cap_row(capacity, D2, "pool", "pool-c")
    assert (c2["observed_hours"], c2["carried_hours"], c2["gap_hours"]) == (3.5, 1, 3)


def test_rollups_count_physical_pools_only(capacity):
    b1 = cap_row(capacity, D1, "pool", "pool-b")
    assert b1["is_physical"] is False and b1["parent"] == "pool-a" and b1["root"] == "pool-a"
    assert b1["pool_type"] == "Logical" and b1["available_node_hours"] == 3.5
    assert cap_row(capacity, D1, "pool", "pool-a")["is_physical"] is True
    p1 = cap_row(capacity, D1, "project", project_id="p1")
    assert p1["pools"] == 1                           # pool-a; pool-b is inside it
    assert p1["available_node_hours"] == 7            # not 7 + 3.5
    assert p1["requested_nodes"] == 4
    assert p1["pool_id"] is None and p1["flavor"] is None and p1["display_name"] is None
    # region r1 on D1: pool-a 7, pool-c 2.5, pool-d 4, pool-e 3.5, pool-f 10.5, pool-y 3.5, pool-m 3.5,
    # pool-z 3.5, pool-s 2 (pool-b left out)
    r1 = cap_row(capacity, D1, "region")
    assert r1["pools"] == 9
    assert r1["available_node_hours"] == pytest.approx(7 + 2.5 + 4 + 3.5 + 10.5 + 3.5 * 3 + 2)
    everything = cap_row(capacity, D1, "all")
    assert everything["region"] is None and everything["available_node_hours"] == r1["available_node_hours"]
    assert everything["gap_hours"] == 1 and everything["has_gap"] is True   # pool-c's hour


def test_pool_gone_from_a_successful_listing_has_no_more_nodes(capacity):
    # pool-d: s1, s2 present, absent from p3's ok listing at s3 -> 2 h, no gap, nothing on D2
    d1 = cap_row(capacity, D1, "pool", "pool-d")
    assert d1["observed_hours"] == 2 and d1["gap_hours"] == 0 and d1["available_node_hours"] == 4
    assert not [r for r in capacity if r["pool_id"] == "pool-d" and r["day"] == D2]


def test_show_pool_observations_and_404(capacity):
    # pool-s is only read by show_pool: ok at s1, s2, 404 at s3 -> 2 h, no gap
    s1 = cap_row(capacity, D1, "pool", "pool-s")
    assert s1["observed_hours"] == 2 and s1["gap_hours"] == 0 and s1["available_node_hours"] == 2
    assert not [r for r in capacity if r["pool_id"] == "pool-s" and r["day"] == D2]


def test_accelerator_card_hours(capacity):
    a1 = cap_row(capacity, D1, "flavor", "pool-a", "f1")
    assert (a1["accelerator"], a1["accelerator_type"], a1["accelerator_cards"]) == ("gpu", "nvidia-t4", 8)
    # card-hours per state: available 7 node-hours x 8 cards, abnormal 3.5 x 8; finance pays for both
    assert (a1["creating_card_hours"], a1["available_card_hours"], a1["abnormal_card_hours"],
            a1["deleting_card_hours"], a1["provisioned_card_hours"]) == (0, 56, 28, 0, 84)
    assert cap_row(capacity, D1, "pool", "pool-a")["provisioned_card_hours"] == 84
    e1 = cap_row(capacity, D1, "flavor", "pool-e", "fcpu")   # CPU-only flavor
    assert e1["accelerator"] is None and e1["available_card_hours"] is None and e1["provisioned_card_hours"] is None
    f1 = cap_row(capacity, D1, "flavor", "pool-f", "fx")     # not in the catalog
    assert f1["accelerator_cards"] is None and f1["provisioned_card_hours"] is None
    p3 = cap_row(capacity, D1, "project", project_id="p3")   # pool-d 4 x 8; pool-e, pool-f have no cards
    assert (p3["available_card_hours"], p3["provisioned_card_hours"]) == (32, 32)
    # D1 of region r1 (physical pools, f1 = 8 cards): pool-a (2 available + 1 abnormal) x 3.5 h = 10.5,
    # pool-c 1 x 2.5, pool-d 2 x 2, pool-y, pool-m, pool-z 1 x 3.5 each, pool-s 1 x 2: 10.5 + 2.5 + 4 + 10.5 + 2
    # = 29.5 node-hours of f1 -> 236 card-hours; pool-b (inside pool-a) is not added again
    assert cap_row(capacity, D1, "region")["provisioned_card_hours"] == 236


def test_no_prices_means_null_cost_columns(capacity):
    assert all(r["estimated_cost"] is None and r["currency"] is None and r["unpriced_node_hours"] is None
               for r in capacity)


def test_days_without_snapshots_have_no_rows(con_a):
    report = rows(con_a, "capacity_utilization", D1, D3)
    assert {r["day"] for r in report} == {D1, D2}
    assert rows(con_a, "capacity_utilization", D3, D3) == []


def test_price_file_gives_estimated_cost(con_a, price_file):
    report = rows(con_a, "capacity_utilization", prices=price_file)
    a1 = cap_row(report, D1, "pool", "pool-a")
    assert a1["estimated_cost"] == pytest.approx(10.5 * 2.5) and a1["currency"] == "EUR"
    assert a1["unpriced_node_hours"] == 0
    b1 = cap_row(report, D1, "pool", "pool-b")           # no billing annotation: no price
    assert b1["estimated_cost"] is None and b1["currency"] is None and b1["unpriced_node_hours"] == 3.5
    d1 = cap_row(report, D1, "pool", "pool-d")           # yearly/monthly price
    assert d1["estimated_cost"] == pytest.approx(4 * 1.0)
    z1 = cap_row(report, D1, "pool", "pool-z")           # 2 h pay-per-use, then 1.5 h yearly/monthly
    assert z1["estimated_cost"] == pytest.approx(2 * 2.5 + 1.5 * 1.0)
    assert cap_row(report, D1, "project", project_id="p1")["estimated_cost"] == pytest.approx(26.25)
    p3 = cap_row(report, D1, "project", project_id="p3")
    assert p3["estimated_cost"] == pytest.approx(4.0) and p3["unpriced_node_hours"] == pytest.approx(3.5 + 10.5)
    without = report_arrow(con_a, "capacity_utilization", D1, D2)
    assert report_arrow(con_a, "capacity_utilization", D1, D2, prices=price_file).schema == without.schema


# ------------------------------------------------------------------------------------------ billing_modes


@pytest.fixture(scope="module")
def billing(con_a):
    return rows(con_a, "billing_modes")


def test_billing_buckets_with_explicit_unknown(billing):
    p1 = [r for r in billing if r["day"] == D1 and r["project_id"] == "p1"]
    assert [(r["billing_mode"], r["period_type"]) for r in p1] == [
        ("pay_per_use", None), ("yearly_monthly", None), ("unknown", None)]
    ppu = p1[0]
    assert (ppu["pools"], ppu["logical_pools"], ppu["nodes"], ppu["node_hours"]) == (1, 0, 3, 10.5)
    assert (p1[1]["pools"], p1[1]["nodes"], p1[1]["node_hours"]) == (0, 0, 0)      # explicit empty bucket
    assert (p1[2]["pools"], p1[2]["logical_pools"], p1[2]["node_hours"]) == (0, 1, 0)  # pool-b: not counted
    # the unknown bucket says why it is there: a sub-pool bills through its parent
    assert p1[2]["note"] == "1 Logical sub-pool(s): they bill through their parent pool, whose bucket holds their nodes"
    assert ppu["note"] is None and p1[1]["note"] is None
    unknown3 = pick(billing, day=D1, project_id="p3", billing_mode="unknown")
    assert (unknown3["pools"], unknown3["nodes"], unknown3["node_hours"]) == (2, 4, 14)  # pool-e 3.5, pool-f 10.5
    assert unknown3["note"].startswith("2 physical pool(s) without a readable billing annotation")
    ym3 = pick(billing, day=D1, project_id="p3", billing_mode="yearly_monthly")
    assert ym3["period_type"] == "month"
    # pool-d was observed on D1 (pools 1) but its last observation of the day found it gone: 0 nodes
    assert (ym3["pools"], ym3["nodes"], ym3["node_hours"]) == (1, 0, 4)


def test_billing_mode_change_splits_the_day(billing):
    # pool-z: pay-per-use at s1, s2 (2 h), yearly/monthly from s3 (1.5 h on D1); its last D1 observation is
    # yearly/monthly, so its node counts there
    ppu = pick(billing, day=D1, project_id="p4", billing_mode="pay_per_use")
    assert (ppu["pools"], ppu["nodes"], ppu["node_hours"]) == (1, 0, 2)
    ym = [r for r in billing if r["day"] == D1 and r["project_id"] == "p4" and r["billing_mode"] == "yearly_monthly"]
    month = pick(ym, period_type="month")                # pool-m (3.5 h) and pool-z (1.5 h)
    assert (month["pools"], month["nodes"], month["node_hours"]) == (2, 2, 5)
    year = pick(ym, period_type="year")                  # pool-y
    assert (year["pools"], year["nodes"], year["node_hours"]) == (1, 1, 3.5)


def test_billing_gaps_and_costs(con_a, billing, price_file):
    c1 = pick(billing, day=D1, project_id="p2", billing_mode="pay_per_use")
    assert (c1["node_hours"], c1["gap_hours"], c1["has_gap"]) == (2.5, 1, True)
    assert c1["carried_hours"] == 1   # s1's count stood in for s2, which could not read p2
    assert pick(billing, day=D1, project_id="p1", billing_mode="pay_per_use")["carried_hours"] == 0
    assert c1["estimated_cost"] is None and c1["unpriced_node_hours"] is None
    priced = rows(con_a, "billing_modes", prices=price_file)
    p1 = pick(priced, day=D1, project_id="p1", billing_mode="pay_per_use")
    assert p1["estimated_cost"] == pytest.approx(26.25) and p1["currency"] == "EUR"
    assert p1["unpriced_node_hours"] == 0
    u3 = pick(priced, day=D1, project_id="p3", billing_mode="unknown")
    assert u3["estimated_cost"] is None and u3["unpriced_node_hours"] == 14


# ------------------------------------------------------------------------------------------ subscriptions


def test_subscriptions_expiry_estimates(con_a):
    subs = rows(con_a, "subscriptions")
    # pool-d is yearly/monthly but gone; pool-z became yearly/monthly at s3
    assert [r["pool_id"] for r in subs] == ["pool-m", "pool-z", "pool-y"]      # soonest first
    ref = datetime(2026, 11, 2, 6, 30, tzinfo=timezone.utc)                     # latest snapshot
    m, z, y = subs
    assert m["reference_at"] == ref
    # 2026-06-30 12:00 + 2 months = 08-30, past and auto-renew on: 09-30, 10-30, 11-30 (3 whole months)
    assert m["subscribed_at_basis"] == "created_at"
    assert m["estimated_expiry"] == datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
    assert m["renewals_assumed"] == 3 and m["days_to_expiry"] == 28
    assert "ESTIMATE" in m["expiry_basis"] and "rolled forward by 3" in m["expiry_basis"]
    assert z["subscribed_at"] == datetime(2026, 11, 1, 22, 30, tzinfo=timezone.utc)
    assert z["subscribed_at_basis"] == "first_seen_yearly_monthly"
    assert z["estimated_expiry"] == datetime(2026, 12, 1, 22, 30, tzinfo=timezone.utc)
    assert z["days_to_expiry"] == 29 and z["renewals_assumed"] == 0
    assert y["estimated_expiry"] == datetime(2027, 3, 15, tzinfo=timezone.utc) and y["days_to_expiry"] == 133
    assert (y["period_type"], y["period_num"], y["auto_renew"], y["order_id"]) == ("year", 1, False, "CS-Y")
    assert "auto-renew off" in y["expiry_basis"]


def test_subscriptions_as_of(con_a):
    subs = rows(con_a, "subscriptions", as_of=datetime(2027, 1, 10, tzinfo=timezone.utc))
    assert [r["pool_id"] for r in subs] == ["pool-z", "pool-m", "pool-y"]
    z, m, y = subs
    assert z["days_to_expiry"] == -40                  # lapsed 2026-12-01 unless renewed by hand
    assert m["estimated_expiry"] == datetime(2027, 1, 30, 12, tzinfo=timezone.utc)
    assert m["renewals_assumed"] == 5 and m["days_to_expiry"] == 20
    assert y["days_to_expiry"] == 64


# ------------------------------------------------------------------------------------ price file, writing


@pytest.mark.parametrize("text, needle", [
    ("flavor,billing_mode,price_per_node_hour,currency,region\nf1,pay_per_use,1,EUR,r1\n", "line 1, column 'region'"),
    ("flavor,billing_mode,price\nf1,pay_per_use,1\n", "line 1, column 'price'"),
    ("flavor,billing_mode,price_per_node_hour,currency\nf1,pay_per_use,1,EUR\nf2,pay_per_use,abc,EUR\n",
     "line 3, column 'price_per_node_hour'"),
    ("flavor,billing_mode,price_per_node_hour,currency\nf1,pay_per_use,-1,EUR\n", "line 2, column 'price_per_node_hour'"),
    ("flavor,billing_mode,price_per_node_hour,currency\nf1,monthly,1,EUR\n", "line 2, column 'billing_mode'"),
    ("flavor,billing_mode,price_per_node_hour,currency\nf1,pay_per_use,1,EUR\nf1,pay_per_use,2,EUR\n",
     "line 3, column 'flavor'"),
    ("flavor,billing_mode,price_per_node_hour,currency\nf1,pay_per_use,1,EUR\nf2,pay_per_use,1,USD\n",
     "line 3, column 'currency'"),
    ("flavor,billing_mode,price_per_node_hour,currency\nf1,pay_per_use,1\n", "line 2"),
    ("", "line 1"),
])
def test_bad_price_file_names_file_line_and_column(tmp_path, text, needle):
    path = tmp_path / "my prices.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as err:
        load_prices(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_price_file_reads_back(price_file):
    table = load_prices(price_file)
    assert table.to_pylist() == [
        {"flavor": "f1", "billing_mode": "pay_per_use", "price_per_node_hour": 2.5, "currency": "EUR"},
        {"flavor": "f1", "billing_mode": "yearly_monthly", "price_per_node_hour": 1.0, "currency": "EUR"}]


def test_build_reports_writes_zstd_parquet(con_a, tmp_path, price_file):
    counts = build_reports(con_a, tmp_path / "out", D1, D2, prices=price_file)
    assert set(counts) == set(REPORTS)
    for name in REPORTS:
        path = tmp_path / "out" / f"{name}.parquet"
        meta = pq.ParquetFile(path).metadata
        assert meta.num_rows == counts[name] > 0
        assert meta.row_group(0).column(0).compression == "ZSTD"
        assert pq.read_table(path).to_pylist() == report_arrow(con_a, name, D1, D2, prices=price_file).to_pylist()
    with pytest.raises(ValueError, match="line 2"):
        bad = tmp_path / "bad.csv"
        bad.write_text("flavor,billing_mode,price_per_node_hour,currency\nf1,pay_per_use,x,EUR\n")
        build_reports(con_a, tmp_path / "out2", D1, D2, prices=bad)
    assert not (tmp_path / "out2").exists() or not list((tmp_path / "out2").iterdir())


@pytest.mark.parametrize("name", REPORTS)
def test_every_column_documented_and_basis_stated(con_a, name):
    text = (SQL_ROOT / "reports" / f"{name}.sql").read_text(encoding="utf-8")
    doc = parse_header(text, name)
    assert "BASIS" in doc.description
    table = report_arrow(con_a, name, D1, D2)
    assert list(doc.columns) == table.column_names
    assert all(doc.columns.values())


# ------------------------------------------------------------------------- a gap opened before the range


def test_gap_opened_before_the_range_is_reported(tmp_path):
    # pool-g seen 2026-11-01 10:00, then its project fails (11-02 and 11-04 snapshots; none on 11-03).
    # Report 11-04 only: 10:00 + 2 h cap = 12:00 on 11-01, so 11-04 is all gap up to the horizon 11:00.
    publish_snapshot(tmp_path, utc(2026, 11, 1, 10), {("r1", "p1"): [pool_doc("pool-g", available={"f1": 1})]})
    publish_snapshot(tmp_path, utc(2026, 11, 2, 10), {("r1", "p1"): 403})
    publish_snapshot(tmp_path, utc(2026, 11, 4, 10), {("r1", "p1"): 403})
    con = duckdb.connect(str(tmp_path / "inventory.duckdb"), read_only=True)
    day4 = date(2026, 11, 4)
    report = rows(con, "capacity_utilization", day4, day4)
    g = cap_row(report, day4, "pool", "pool-g")
    assert (g["observed_hours"], g["gap_hours"], g["has_gap"]) == (0, 11, True)
    assert g["display_name"] == "pool-g" and g["is_physical"] is True
    assert cap_row(report, day4, "project", project_id="p1")["gap_hours"] == 11
    whole = rows(con, "capacity_utilization", D1, day4)
    assert {r["day"] for r in whole} == {D1, D2, day4}           # no snapshot on 11-03: no rows
    g1 = cap_row(whole, D1, "pool", "pool-g")
    # 10:00-11:00 seen by the snapshot, 11:00-12:00 carried (no 11:00 snapshot), then the gap to midnight
    assert (g1["observed_hours"], g1["carried_hours"], g1["gap_hours"]) == (1, 1, 12)
    assert cap_row(whole, D2, "pool", "pool-g")["gap_hours"] == 24
    billing = rows(con, "billing_modes", day4, day4)
    assert pick(billing, billing_mode="pay_per_use")["gap_hours"] == 11


def test_pool_without_resources_and_missing_views(tmp_path):
    # a pool with no spec or status resources, and no flavor catalog
    publish_snapshot(tmp_path, utc(2026, 11, 1, 10), {("r1", "p1"): [pool_doc("pool-h", requested={})]})
    con = duckdb.connect(str(tmp_path / "inventory.duckdb"), read_only=True)
    report = rows(con, "capacity_utilization", D1, D1)
    h = cap_row(report, D1, "pool", "pool-h")
    assert (h["observed_hours"], h["provisioned_node_hours"], h["requested_nodes"]) == (1, 0, 0)
    assert {r["level"] for r in report} == {"pool", "project", "region", "all"}
    assert len(rows(con, "billing_modes", D1, D1)) == 3
    # A table without committed data is still a view of the catalog (empty, typed), so a report needs no stand-in;
    # and a report leaves no temp view behind on the caller's connection.
    assert con.execute("SELECT count(*) FROM flavors").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM pool_resources").fetchall() == [(0,)]
    assert not con.execute("SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal").fetchall()


def test_a_new_order_starts_a_new_term_and_implausible_terms_are_flagged(tmp_path):
    # pool-n: created 2025-01-10, monthly order CS-1 (1 month, auto-renew on) at 11-01 10:00 and 11:00; from 12:00
    # a new order CS-2 for 1 year, auto-renew off. The new term starts at its first observation (12:00), not at
    # created_at: expiry 2027-11-01 12:00 (not 2026-01-10 + 1 year rolled forward, nor the old monthly term).
    # pool-x: an order for 11 years, which ModelArts does not sell: flagged, no expiry.
    def docs(hour):
        n_order = {"order_id": "CS-1", "period_type": "2", "period_num": "1", "auto_renew": "1"} if hour < 12 \
            else {"order_id": "CS-2", "period_type": "3", "period_num": "1", "auto_renew": "0"}
        return [pool_doc("pool-n", billing_mode="1", created="2025-01-10T00:00:00Z", available={"f1": 1}, **n_order),
                pool_doc("pool-x", billing_mode="1", period_type="3", period_num="11", auto_renew="0",
                         order_id="CS-X", created="2026-10-01T00:00:00Z", available={"f1": 1})]
    for hour in (10, 11, 12, 13):
        publish_snapshot(tmp_path, utc(2026, 11, 1, hour), {("r1", "p1"): docs(hour)})
    con = duckdb.connect(str(tmp_path / "inventory.duckdb"), read_only=True)
    subs = {r["pool_id"]: r for r in rows(con, "subscriptions", D1, D1)}
    n, x = subs["pool-n"], subs["pool-x"]
    assert (n["order_id"], n["period_type"], n["period_num"]) == ("CS-2", "year", 1)
    assert n["subscribed_at"] == datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    assert n["subscribed_at_basis"] == "new_order_first_seen" and n["implausible_term"] is False
    assert n["estimated_expiry"] == datetime(2027, 11, 1, 12, tzinfo=timezone.utc)
    assert n["days_to_expiry"] == 365 and n["renewals_assumed"] == 0        # from 2026-11-01 (13:00, the latest)
    assert "order CS-2" in n["expiry_basis"] and "new order" in n["expiry_basis"]
    assert x["implausible_term"] is True and x["subscribed_at_basis"] == "created_at"
    assert x["estimated_expiry"] is None and x["days_to_expiry"] is None
    assert "NOT ESTIMATED" in x["expiry_basis"] and "over 5 years" in x["expiry_basis"]
    assert [r["pool_id"] for r in rows(con, "subscriptions", D1, D1)] == ["pool-n", "pool-x"]  # unknown last
    con.close()


def test_each_level_of_the_exports_sums_to_the_truth(con_a):
    # What a spreadsheet reader does: sum a column of one file. D1's physical available node-hours, by hand:
    # pool-a 7, pool-c 2.5, pool-d 4, pool-e 3.5, pool-f 10.5, pool-y, pool-m, pool-z 3.5 each, pool-s 2 = 40;
    # pool-b (Logical, inside pool-a) 3.5 is listed apart and never added.
    from pipeline.reports.levels import split_levels

    parts = {lv.name: t.to_pylist() for lv, t in split_levels(report_arrow(con_a, "capacity_utilization", D1, D2))}
    def total(name, col="available_node_hours", day=D1):
        return sum(r[col] or 0 for r in parts[name] if r["day"] == day)
    for name in ("capacity_total", "capacity_by_region", "capacity_by_project", "capacity_by_pool",
                 "capacity_by_flavor"):
        assert total(name) == pytest.approx(40), name
        assert "level" not in parts[name][0]
    assert [r["pool_id"] for r in parts["capacity_sub_pools"] if r["day"] == D1] == ["pool-b"]
    assert total("capacity_sub_pools") == 3.5 and parts["capacity_sub_pools"][0]["parent"] == "pool-a"
    assert "pool_id" not in parts["capacity_by_project"][0] and "flavor" not in parts["capacity_by_pool"][0]
    # no column that is empty by construction at its level
    assert not {"region", "project_id", "project_name"} & set(parts["capacity_total"][0])
    assert not {"project_id", "project_name"} & set(parts["capacity_by_region"][0])
    assert "project_name" in parts["capacity_by_project"][0] and "project_name" in parts["capacity_by_pool"][0]
    assert "accelerator_type" in parts["capacity_by_flavor"][0]
    # card-hours too: f1 has 8 cards; D1's physical f1 node-hours (provisioned) are 29.5 -> 236
    assert total("capacity_by_flavor", "provisioned_card_hours") == 236 == total("capacity_total",
                                                                                 "provisioned_card_hours")
