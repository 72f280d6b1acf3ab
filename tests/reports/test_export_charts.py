"""Charts: which rows they draw (one level, physical pools, newest snapshot), what they skip, and their SVG.

Each chart's bars carry a `<title>` tooltip with the exact number; these tests read the numbers back
from there, so they check the arithmetic, not the pixels.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from pipeline.reports import ReportTable, export_reports
from pipeline.reports.charts import (CHART_HEADINGS, Figure, Skipped, accelerator_use_chart, billing_chart, build_charts,
                                     capacity_chart, expiry_chart, idle_chart)
from pipeline.reports.svg import esc, nice_ticks
from pipeline.reports.values import display_width, truncate, truncate_middle

SVG = "{http://www.w3.org/2000/svg}"
TODAY = date(2026, 11, 28)
D1, D2 = date(2026, 11, 1), date(2026, 11, 2)


def report(name: str, rows: list[dict], schema: pa.Schema | None = None) -> ReportTable:
    table = pa.Table.from_pylist(rows, schema=schema)
    return ReportTable(name, name.replace("_", " "), "basis", table, {})


def parse(svg: str) -> ET.Element:
    """Every chart is well-formed XML on its own (escaping, control characters and all)."""
    return ET.fromstring(svg)


def tooltips(svg: str, element: str = "rect") -> list[str]:
    root = parse(svg)
    return [el.find(f"{SVG}title").text for el in root.iter(f"{SVG}{element}") if el.find(f"{SVG}title") is not None]


def bar_values(svg: str) -> dict[tuple[str, str], float]:
    """{(category, series): value} from stacked-bar tooltips like `2026-11-01 · available: 1,234 node-hours`."""
    out = {}
    for tip in tooltips(svg):
        m = re.fullmatch(r"(.+) · (.+): ([\d,.]+) .+", tip)
        if m:
            out[(m[1], m[2])] = float(m[3].replace(",", ""))
    return out


def cap_row(day, level, flavor, pool=None, available=0.0, abnormal=0.0, physical=True, gap=False):
    return {"day": day, "level": level, "pool_id": pool, "flavor": flavor, "is_physical": physical,
            "available_node_hours": available, "abnormal_node_hours": abnormal, "creating_node_hours": 0.0,
            "deleting_node_hours": 0.0, "has_gap": gap}


# ---- capacity -------------------------------------------------------------------------------------------

def test_capacity_sums_flavor_rows_of_physical_pools_only():
    # The shape of sql/reports/capacity_utilization.sql: flavor is set only on level 'flavor'; rollups
    # (pool, all) have it NULL; a Logical sub-pool's nodes are inside its root pool's nodes.
    rows = [
        cap_row(D1, "flavor", "gpu", "pool-a", available=48.0, abnormal=24.0),
        cap_row(D1, "flavor", "gpu", "pool-b", available=24.0),
        cap_row(D1, "flavor", "gpu", "sub-of-a", available=24.0, physical=False),
        cap_row(D2, "flavor", "gpu", "pool-a", available=72.0, gap=True),
        cap_row(D1, "flavor", "cpu", "pool-b", available=240.0),
        cap_row(D1, "pool", None, "pool-a", available=48.0, physical=None),
        cap_row(D1, "all", None, None, available=312.0, abnormal=24.0, physical=None),
    ]
    fig = capacity_chart(report("capacity_utilization", rows))
    assert isinstance(fig, Figure) and len(fig.svgs) == 2
    cpu, gpu = fig.svgs  # largest flavor first
    assert "cpu" in parse(cpu).find(f"{SVG}title").text
    values = bar_values(gpu)
    assert values[("2026-11-01", "available")] == 72.0  # pool-a + pool-b, not the sub-pool
    assert values[("2026-11-01", "abnormal")] == 24.0
    assert values[("2026-11-02", "available")] == 72.0
    assert "level 'flavor', physical pools only" in fig.caption
    assert "1 day(s) include unobserved hours" in fig.caption


def test_capacity_prefers_the_coarsest_level_that_has_flavors():
    rows = [cap_row(D1, "pool", "gpu", "pool-a", available=10.0), cap_row(D1, "pool", "gpu", "pool-b", available=5.0),
            cap_row(D1, "region", "gpu", None, available=15.0)]
    fig = capacity_chart(report("capacity_utilization", rows))
    assert bar_values(fig.svgs[0]) == {("2026-11-01", "available"): 15.0}
    assert "level 'region'" in fig.caption


def test_capacity_without_level_drops_rollup_rows_without_pool_id():
    rows = [{"day": D1, "pool_id": p, "flavor": "gpu", "available_nodes": n}
            for p, n in (("a", 2), ("b", 3), (None, 5))]
    fig = capacity_chart(report("capacity_utilization", rows))
    assert bar_values(fig.svgs[0]) == {("2026-11-01", "available"): 5.0}
    assert "nodes" in fig.caption and "node-hours" not in fig.caption


def test_capacity_accepts_duckdb_enums_and_timestamp_days():
    table = pa.table({
        "day": pa.array([datetime(2026, 11, 1, 0, 0), datetime(2026, 11, 1, 0, 0)], pa.timestamp("us")),
        "level": pa.array(["flavor", "flavor"]).dictionary_encode(),
        "flavor": pa.array(["gpu", "gpu"]).dictionary_encode(),
        "available_node_hours": pa.array([1, 2], pa.int32()),
    })
    fig = capacity_chart(ReportTable("capacity_utilization", "c", "b", table, {}))
    assert bar_values(fig.svgs[0]) == {("2026-11-01", "available"): 3.0}


@pytest.mark.parametrize("drop", ["day", "flavor", "states"])
def test_capacity_chart_is_skipped_when_columns_are_missing(drop):
    rows = [cap_row(D1, "flavor", "gpu", "a", available=1.0)]
    table = pa.Table.from_pylist(rows)
    keep = [c for c in table.column_names if not (c == drop or (drop == "states" and c.endswith("_node_hours")))]
    result = capacity_chart(ReportTable("capacity_utilization", "c", "b", table.select(keep), {}))
    assert isinstance(result, Skipped) and "lacks columns" in result.reason


def test_many_flavors_draw_the_largest_and_say_so():
    rows = [cap_row(D1, "flavor", f"f{i}", "a", available=float(i)) for i in range(12)]
    fig = capacity_chart(report("capacity_utilization", rows))
    assert len(fig.svgs) == 8 and "4 smaller flavors are not drawn" in fig.caption
    assert "f11" in parse(fig.svgs[0]).find(f"{SVG}title").text


# ---- billing --------------------------------------------------------------------------------------------

def test_billing_stacks_nodes_per_mode_per_day_and_groups_the_tail():
    modes = [f"mode-{i}" for i in range(8)]
    rows = [{"day": D1, "billing_mode": m, "pools": 1, "nodes": 10 + i} for i, m in enumerate(modes)]
    fig = billing_chart(report("billing_modes", rows))
    values = bar_values(fig.svgs[0])
    assert values[("2026-11-01", "mode-7")] == 17.0
    assert values[("2026-11-01", "other")] == 10.0 + 11.0  # the two smallest modes
    assert len(values) == 7


def test_billing_without_days_draws_one_bar_per_mode_from_the_newest_snapshot():
    rows = [{"snapshot_id": sid, "billing_mode": m, "pools": n}
            for sid, m, n in (("20261127T000000Z", "yearly", 99), ("20261128T000000Z", "yearly", 4),
                              ("20261128T000000Z", "pay-per-use", 6))]
    fig = billing_chart(report("billing_modes", rows))
    assert tooltips(fig.svgs[0]) == ["pay-per-use: 6 pools", "yearly: 4 pools"]
    assert "20261128T000000Z" in fig.caption


def test_capacity_names_the_accelerator_and_billing_explains_unknown():
    rows = [{"day": D1, "pool_id": "a", "flavor": "gpu.8x", "accelerator_type": "nvidia-t4", "accelerator_cards": 8,
             "available_node_hours": 5.0},
            {"day": D1, "pool_id": "b", "flavor": "cpu.8u", "accelerator_type": None, "accelerator_cards": None,
             "available_node_hours": 1.0}]
    fig = capacity_chart(report("capacity_by_flavor", rows))
    titles = [parse(svg).find(f"{SVG}title").text for svg in fig.svgs]
    assert titles == ["gpu.8x (nvidia-t4 x 8): node-hours by state per day", "cpu.8u: node-hours by state per day"]
    billing = billing_chart(report("billing_modes", [{"day": D1, "billing_mode": m, "nodes": 3}
                                                     for m in ("pay_per_use", "unknown")]))
    assert "Logical sub-pools bill through their parent pool" in billing.caption
    assert "through their parent" not in billing_chart(
        report("billing_modes", [{"day": D1, "billing_mode": "pay_per_use", "nodes": 3}])).caption


def test_billing_chart_is_skipped_without_a_measure():
    result = billing_chart(report("billing_modes", [{"day": D1, "billing_mode": "x"}]))
    assert isinstance(result, Skipped)


# ---- expiries -------------------------------------------------------------------------------------------

def sub_row(i, *, day=TODAY, name=None, days=None, expiry=None, auto=True):
    return {"day": day, "pool_id": f"pool-{i}", "display_name": name or f"pool {i}", "order_id": f"CS{i}",
            "estimated_expiry": expiry, "days_to_expiry": days, "auto_renew": auto}


def test_expiries_soonest_first_top_20_from_the_newest_day():
    rows = [sub_row(i, days=100 - i * 3) for i in range(30)]
    rows.append(sub_row(99, day=TODAY - timedelta(days=1), days=-500))  # an older snapshot: ignored
    fig = expiry_chart(report("subscriptions", rows), TODAY)
    labels = [t.find(f"{SVG}title").tail for t in parse(fig.svgs[0]).iter(f"{SVG}text")
              if t.find(f"{SVG}title") is not None]
    assert len(labels) == 20
    assert labels[0] == "pool 29" and labels[-1] == "pool 10"
    assert "The 20 soonest of 30" in fig.caption and "as of day 2026-11-28" in fig.caption
    # the API gives no expiry date: the chart never presents its bars as fact
    assert "estimated" in fig.heading and "ESTIMATED" in fig.caption and "Estimated days" in fig.svgs[0]


def test_expiry_days_come_from_the_estimated_date_when_not_given():
    schema = pa.schema([("pool_id", pa.string()), ("display_name", pa.string()),
                        ("estimated_expiry", pa.timestamp("us", tz="UTC")), ("auto_renew", pa.bool_())])
    rows = [{"pool_id": "p1", "display_name": "soon", "estimated_expiry": datetime(2026, 12, 8, tzinfo=timezone.utc),
             "auto_renew": None},
            {"pool_id": "p2", "display_name": "gone", "estimated_expiry": datetime(2026, 11, 20, tzinfo=timezone.utc),
             "auto_renew": False},
            {"pool_id": "p3", "display_name": "unknown", "estimated_expiry": None, "auto_renew": True}]
    fig = expiry_chart(report("subscriptions", rows, schema), TODAY)
    tips = [t for t in tooltips(fig.svgs[0]) if " · " in t]  # bars, not legend swatches
    assert tips[0].startswith("gone · pool p2 · expires 2026-11-20 · expired 8 d ago · auto-renew off")
    assert tips[1].startswith("soon · pool p1 · expires 2026-12-08 · 10 d · auto-renew unknown")
    assert len(tips) == 2


def test_expiry_labels_are_escaped_and_cut_with_an_ellipsis():
    long = "训练池-" + "very-long-display-name-" * 5 + "end"
    rows = [sub_row(1, name=long, days=3), sub_row(2, name='<script>alert("x")</script>', days=5)]
    svg = expiry_chart(report("subscriptions", rows), TODAY).svgs[0]
    assert "<script>" not in svg and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in svg
    label = next(t for t in parse(svg).iter(f"{SVG}text") if t.find(f"{SVG}title") is not None)
    assert label.find(f"{SVG}title").text == long  # the full name is in the tooltip
    visible = label.find(f"{SVG}title").tail
    assert "…" in visible and visible.endswith("end") and display_width(visible) <= 32


def test_expiry_chart_is_skipped_without_dates():
    result = expiry_chart(report("subscriptions", [{"pool_id": "p", "auto_renew": True}]), TODAY)
    assert isinstance(result, Skipped)


def test_skipped_charts_are_explained_on_the_page(tmp_path):
    reports = [report("capacity_utilization", [{"day": D1, "pool_id": "p"}]),
               report("subscriptions", [{"pool_id": "p", "days_to_expiry": None}],
                      pa.schema([("pool_id", pa.string()), ("days_to_expiry", pa.int32())]))]
    page = export_reports(reports, tmp_path, ["html"], generated_at=datetime(2026, 11, 28))["html"][0]
    text = page.read_text(encoding="utf-8")
    assert "<svg" not in text
    assert "Provisioned capacity by state, per flavor: not drawn, because capacity_utilization lacks" in text
    assert "Upcoming subscription expiries (estimated): not drawn, because subscriptions has no subscription" in text


def test_a_column_of_the_wrong_type_costs_the_chart_not_the_export():
    rows = [{"day": D1, "flavor": "gpu", "available_node_hours": "lots"}]
    result = build_charts([report("capacity_utilization", rows)], TODAY)
    # two charts read capacity_utilization: by state (wrong type) and accelerator use (its columns are missing)
    assert len(result) == 2 and all(isinstance(r, Skipped) for r in result)
    assert "unexpected type" in result[0].reason
    assert result[1].heading == CHART_HEADINGS["accelerator_use"] and "lacks columns" in result[1].reason


def test_only_reports_with_known_names_get_charts():
    assert build_charts([report("other", [{"day": D1, "flavor": "x", "available_node_hours": 1.0}])], TODAY) == []


# ---- primitives -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("low", "high", "ticks"), [
    (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]), (0, 97, [0, 20, 40, 60, 80, 100]), (0, 0, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (-17, 116, [-50, 0, 50, 100, 150]), (0, 12_345, [0, 2500, 5000, 7500, 10000, 12500]),
])
def test_nice_ticks(low, high, ticks):
    assert nice_ticks(low, high) == ticks


def test_text_width_and_truncation_handle_wide_and_combining_characters():
    assert display_width("abc") == 3 and display_width("训练") == 4 and display_width("e\u0301") == 1
    assert truncate("short", 10) == "short"
    assert truncate("训练池训练池", 7) == "训练池…"
    assert truncate("cafe\u0301s-and-more", 5) == "cafe\u0301…"  # the accent stays with its letter
    assert truncate_middle("training-pool-number-0042", 16) == "training-p…-0042"
    assert esc('"<&>\'\x00') == "&quot;&lt;&amp;&gt;&#x27;\ufffd"


def test_accelerator_use_stacks_up_to_the_provisioned_card_hours():
    # 100 card-hours provisioned, 80 allocatable, 40 allocated, measured at 25 %: 10 busy, 30 allocated but not
    # busy, 40 unallocated, 20 not allocatable. A CPU flavor (no card-hours) is not drawn.
    rows = [{"day": D1, "level": "flavor", "flavor": "gpu8", "provisioned_card_hours": 100.0,
             "allocatable_card_hours": 80.0, "allocated_card_hours": 40.0, "accelerator_util_mean": 25.0},
            {"day": D1, "level": "flavor", "flavor": "cpu", "provisioned_card_hours": None,
             "allocatable_card_hours": None, "allocated_card_hours": None, "accelerator_util_mean": None}]
    fig = accelerator_use_chart(report("capacity_by_flavor", rows))
    assert isinstance(fig, Figure) and len(fig.svgs) == 1
    tips = tooltips(fig.svgs[0])
    for label, value in (("measured busy", "10"), ("allocated, not measured busy", "30"), ("unallocated", "40"),
                         ("not allocatable", "20")):
        assert any(label in t and value in t for t in tips), (label, tips)


def test_idle_chart_ranks_pools_by_idle_cost_over_the_period():
    rows = [{"day": D1, "pool_id": "a", "display_name": "pool A", "idle_card_hours": 10.0,
             "estimated_idle_cost": 10.0, "currency": "EUR", "flagged": False},
            {"day": D1, "pool_id": "b", "display_name": "pool B", "idle_card_hours": 50.0,
             "estimated_idle_cost": 25.0, "currency": "EUR", "flagged": False},
            {"day": D1 + timedelta(days=1), "pool_id": "a", "display_name": "pool A", "idle_card_hours": 30.0,
             "estimated_idle_cost": 30.0, "currency": "EUR", "flagged": True}]
    fig = idle_chart(report("idle_capacity", rows))
    assert isinstance(fig, Figure)
    tips = [t for t in tooltips(fig.svgs[0]) if " · " in t]  # the bars (legend swatches have a title too)
    assert [t.split(" · ")[0] for t in tips] == ["pool A", "pool B"]  # 40 EUR over two days, then 25 EUR
    assert "40 EUR" in tips[0] and "25 EUR" in tips[1]
    assert isinstance(idle_chart(report("idle_capacity", rows[:0], pa.schema([("pool_id", pa.string()),
                                                                              ("idle_card_hours", pa.float64())]))),
                      Skipped)
