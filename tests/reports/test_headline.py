"""The HTML page's headline figures from hand-made rows, checked by hand."""

from datetime import date

import pyarrow as pa

from pipeline.reports.headline import build_headline
from pipeline.reports.model import Coverage, CoverageItem, RegionCoverage


def row(moment, sid, mode, state, nodes, cards):
    return {"moment": moment, "snapshot_id": sid, "billing_mode": mode, "state": state, "nodes": nodes,
            "cards": cards}


ROWS = [
    # last snapshot: yearly/monthly 10 available (80 cards) + 2 abnormal (16); pay-per-use 3 available, CPU only
    row("last", "S2", "yearly_monthly", "available", 10, 80), row("last", "S2", "yearly_monthly", "abnormal", 2, 16),
    row("last", "S2", "pay_per_use", "available", 3, 0),
    # first snapshot: 20 nodes, 120 cards
    row("first", "S1", "yearly_monthly", "available", 15, 120), row("first", "S1", "pay_per_use", "creating", 5, 0),
]


def figures(**kw):
    headline = build_headline(kw.pop("rows", ROWS), subscriptions=kw.pop("subscriptions", None),
                              capacity_total=kw.pop("capacity_total", None), coverage=kw.pop("coverage", None))
    return headline, {f.label: f for f in headline.figures}


def test_totals_split_by_state_and_the_change_since_the_first_snapshot():
    headline, got = figures()
    assert headline.as_of == "snapshot S2"
    nodes, cards = got["Provisioned nodes"], got["Accelerator cards"]
    assert nodes.value == "15"   # 10 + 2 + 3
    assert nodes.detail == "available 13 \u00b7 creating 0 \u00b7 abnormal 2 \u00b7 deleting 0. \u22125 since S1 (20)"
    assert cards.value == "96" and cards.detail.endswith("\u221224 since S1 (120)")
    assert got["Yearly/monthly nodes"].value == "12"
    assert "pay-per-use 3 nodes / 0 cards" in got["Yearly/monthly nodes"].detail
    assert (got["Abnormal nodes"].value, got["Abnormal nodes"].tone) == ("2", "warn")


def test_one_snapshot_shows_no_change_and_no_abnormal_is_ok():
    only = [r | {"moment": m} for r in ROWS[:1] for m in ("last", "first")]
    _, got = figures(rows=only)
    assert got["Provisioned nodes"].detail.endswith("one snapshot in the period: no change to show")
    assert (got["Abnormal nodes"].value, got["Abnormal nodes"].tone) == ("0", "ok")


def test_expiring_subscriptions_node_hours_and_coverage():
    subs = pa.table({"days_to_expiry": [0, 30, 31, -2, None], "auto_renew": [True, False, False, None, False],
                     "implausible_term": [False, False, False, False, True]})
    total = pa.table({"day": [date(2026, 11, 1), date(2026, 11, 2)], "provisioned_node_hours": [100.0, 50.25],
                      "provisioned_card_hours": [800.0, None], "carried_hours": [1.0, 0.0], "gap_hours": [0.0, 2.0]})
    unread = CoverageItem(kind="unreadable_project", text="project p2 (r1) could not be read", region="r1",
                          project_id="p2", reason="APIGW.0302", snapshots=3, hours=3.0)
    coverage = Coverage(snapshots=3, used=3, items=(unread,), regions=(RegionCoverage("r1", 3, 2, 1, 0, 1),),
                        hours_expected=3.0, hours_observed=3.0)
    _, got = figures(subscriptions=subs, capacity_total=total, coverage=coverage)
    expiring = got["Subscriptions expiring in 30 days"]
    assert expiring.value == "2"   # 0 and 30 days; 31 is later, -2 is past, None has no estimate
    assert expiring.detail.startswith("1 without auto-renew") and "1 with an implausible term" in expiring.detail
    hours = got["Node-hours in the period"]
    assert hours.value == "150" and hours.tone == "warn"   # 150.25, whole node-hours; a gap makes it a warning
    assert hours.detail == "800 card-hours over 2 day(s); 1 pool-hours carried forward, 2 unobserved"
    cov = got["Coverage"]
    assert (cov.value, cov.tone) == ("incomplete", "warn")  # region r1 has a project it never read
    assert cov.detail == "1 of 2 project(s) read in every snapshot; 3 of 3 h observed"


def test_a_complete_coverage_is_ok():
    coverage = Coverage(snapshots=2, used=2, regions=(RegionCoverage("r1", 2, 1, 1, 0, 0),),
                        hours_expected=2.0, hours_observed=2.0)
    _, got = figures(coverage=coverage)
    assert (got["Coverage"].value, got["Coverage"].tone) == ("complete", "ok")


def test_the_change_is_against_the_end_of_the_previous_period(tmp_path):
    # 11-01 22:00: 5 nodes; 11-01 23:00: 4 (the end of the previous period); 11-02 01:00: 6, 11-02 02:00: 7.
    # The page of 11-02 compares 7 with 4 (not with 11-02's first snapshot, 6); a 11-01..11-02 page has no
    # earlier snapshot, so it compares with its own first one (5).
    import duckdb
    from lakekit import pool_doc, publish_snapshot, utc

    from pipeline.reports.tables import headline_rows

    for at, n in ((utc(2026, 11, 1, 22), 5), (utc(2026, 11, 1, 23), 4), (utc(2026, 11, 2, 1), 6),
                  (utc(2026, 11, 2, 2), 7)):
        publish_snapshot(tmp_path, at, {("r1", "p1"): [pool_doc("pool-a", available={"f1": n})]})
    con = duckdb.connect(str(tmp_path / "inventory.duckdb"), read_only=True)
    try:
        def compared(from_day, **kw):
            rows = headline_rows(con, from_day, date(2026, 11, 2), **kw)
            return sorted((r["moment"], r["snapshot_id"], r["nodes"]) for r in rows)
        assert compared(date(2026, 11, 2)) == [("first", "20261101T230000Z", 4), ("last", "20261102T020000Z", 7)]
        assert compared(date(2026, 11, 1)) == [("first", "20261101T220000Z", 5), ("last", "20261102T020000Z", 7)]
        # a snapshot the gate leaves out is never a side of the comparison
        assert compared(date(2026, 11, 2), exclude=["20261101T230000Z", "20261102T020000Z"]) == [
            ("first", "20261101T220000Z", 5), ("last", "20261102T010000Z", 6)]
        _, got = figures(rows=headline_rows(con, date(2026, 11, 2), date(2026, 11, 2)))
        assert got["Provisioned nodes"].detail.endswith("+3 since 20261101T230000Z (4)")
    finally:
        con.close()
