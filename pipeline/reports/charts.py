"""The HTML export's charts, drawn from report tables found by name.

Report SQL is written by others and evolves, so each chart looks for the columns it needs and is skipped
(with the reason kept for the page) rather than failing the export when they are missing. Reports may mix
detail rows with rollups (a `level` column, or rows whose `pool_id` is NULL); a chart uses one level only,
so nothing is counted twice, and its caption says which rows it drew.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from .model import ReportTable
from .svg import OTHER_COLOR, PALETTE, Bar, Series, fmt_number, horizontal_bars, stacked_bars
from .values import human_text

log = logging.getLogger(__name__)

STATES = ("available", "creating", "abnormal", "deleting")
STATE_COLORS = {"available": "#009E73", "creating": "#0072B2", "abnormal": "#D55E00", "deleting": "#8C96A3"}
# Coarsest first: one total per day needs the fewest rows and repeats no pool. (capacity_utilization
# sets `flavor` only on its finest level, 'flavor', so the per-flavor chart ends up summing those.)
LEVEL_PREFERENCE = ("all", "region", "project", "pool", "flavor")
MAX_FLAVORS = 8
MAX_BILLING_MODES = 6
MAX_EXPIRIES = 20
# Columns that identify one observation in time, newest wins for "current" charts.
TIME_COLUMNS = ("day", "snapshot_at", "snapshot_id")


@dataclass
class Figure:
    id: str
    heading: str
    caption: str
    svgs: list[str]


@dataclass
class Skipped:
    heading: str
    reason: str


UNKNOWN_BILLING = (" unknown: physical pools without a readable billing annotation; Logical sub-pools bill through "
                   "their parent pool, whose mode their nodes are counted under (see the note column).")
CHART_HEADINGS = {"capacity_utilization": "Provisioned capacity by state, per flavor",
                  "accelerator_use": "Accelerators: provisioned, allocated and measured busy, per flavor",
                  "idle_capacity": "Top idle pools by estimated idle cost",
                  "billing_modes": "Billing mix", "subscriptions": "Upcoming subscription expiries (estimated)"}
MAX_IDLE_POOLS = 10


def build_charts(reports: list[ReportTable], today: date) -> list[Figure | Skipped]:
    """The charts of the known reports present, in a fixed order; a chart that cannot be drawn is Skipped."""
    by_name = {r.name: r for r in reports}
    # The exports split capacity_utilization by level (pipeline/reports/levels.py): its chart reads the
    # physical pools' flavor rows.
    capacity = "capacity_by_flavor" if "capacity_by_flavor" in by_name else "capacity_utilization"
    builders = {"capacity_utilization": (capacity, capacity_chart),
                "accelerator_use": (capacity, accelerator_use_chart),
                "idle_capacity": ("idle_capacity", idle_chart),
                "billing_modes": ("billing_modes", billing_chart),
                "subscriptions": ("subscriptions", lambda r: expiry_chart(r, today))}
    out: list[Figure | Skipped] = []
    for chart, (name, build) in builders.items():
        if name not in by_name:
            continue
        try:
            out.append(build(by_name[name]))
        except (pa.ArrowException, TypeError, ValueError) as exc:
            # A column of an unexpected type (text where numbers were expected, ...) costs the chart,
            # never the export: the tables and the other formats are still worth delivering.
            log.warning("chart for %s not drawn: %s", name, exc)
            out.append(Skipped(CHART_HEADINGS[chart], f"{name} has a column of an unexpected type ({exc})"))
    return out


# ---- row selection ------------------------------------------------------------------------------------

def select_rows(table: pa.Table, required: list[str]) -> tuple[pa.Table, str]:
    """Rows of a single aggregation level having every `required` column set, and how they were chosen.

    Rows describing single pools leave out Logical sub-pools (`is_physical` false): their nodes are part
    of their root pool's nodes, and the reports' own rollups leave them out for the same reason.
    """
    rows, how = _one_level(_non_null(table, required))
    if "is_physical" in rows.column_names:
        physical = rows.filter(pc.fill_null(_plain(rows["is_physical"]), True))
        if physical.num_rows < rows.num_rows:
            return physical, f"{how}, physical pools only"
    return rows, how


def _one_level(table: pa.Table) -> tuple[pa.Table, str]:
    names = table.column_names
    if "level" in names:
        level_col = _plain(table["level"])
        levels = [v for v in pc.unique(level_col).to_pylist() if v is not None]
        ordered = [lv for lv in LEVEL_PREFERENCE if lv in levels] + sorted(
            (lv for lv in levels if lv not in LEVEL_PREFERENCE), key=str)
        for level in ordered:
            rows = table.filter(pc.equal(level_col, pa.scalar(level, level_col.type)))
            if rows.num_rows:
                return rows, f"rows at level '{human_text(level)}'"
        return table.slice(0, 0), "no rows with a level"
    if "pool_id" in names:
        detail = table.filter(pc.is_valid(table["pool_id"]))
        if detail.num_rows:
            return detail, "pool rows (rollup rows without a pool_id are left out)"
    return table, "all rows"


def _non_null(table: pa.Table, columns: list[str]) -> pa.Table:
    for name in columns:
        table = table.filter(pc.is_valid(table[name]))
    return table


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The column with dictionary encoding (DuckDB ENUMs) decoded, so compute kernels accept it."""
    if pa.types.is_dictionary(column.type):
        return pc.cast(column, column.type.value_type)
    return column


def _as_float(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.cast(column, pa.float64(), safe=False)


def _category(value: object) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    return human_text(value)


def _latest(table: pa.Table) -> tuple[pa.Table, str]:
    """The rows of the newest observation, when the table keeps several over time."""
    for name in TIME_COLUMNS:
        if name in table.column_names and table.num_rows:
            column = _plain(table[name])
            newest = pc.max(column)
            if newest.is_valid:
                return table.filter(pc.equal(column, newest)), f"as of {name} {_category(newest.as_py())}"
    return table, ""


def _daily(table: pa.Table, group: str, measures: list[str]) -> tuple[list, dict[object, dict[str, list[float]]]]:
    """The sorted days, and {group value: {measure: sum per day}} (0 where a group has no row that day)."""
    day = _plain(table["day"])
    if pa.types.is_timestamp(day.type):
        day = pc.cast(day, pa.date32())
    cols = {m: _as_float(table[m]) for m in measures}
    slim = pa.table({"day": day, "g": _plain(table[group]), **cols})
    summed = slim.group_by(["g", "day"]).aggregate([(m, "sum") for m in measures]).to_pylist()
    days = sorted({row["day"] for row in summed})
    index = {d: i for i, d in enumerate(days)}
    out: dict[object, dict[str, list[float]]] = {}
    for row in summed:
        per = out.setdefault(row["g"], {m: [0.0] * len(days) for m in measures})
        for m in measures:
            v = row[f"{m}_sum"]
            per[m][index[row["day"]]] = v if v is not None and math.isfinite(v) else 0.0
    return days, out


# ---- (1) capacity by state over time, per flavor ----------------------------------------------------

def state_columns(names: list[str]) -> tuple[dict[str, str], str]:
    """{state: column} preferring node-hours, else node counts; and the unit they measure."""
    for suffix, unit in (("_node_hours", "node-hours"), ("_nodes", "nodes")):
        found = {s: f"{s}{suffix}" for s in STATES if f"{s}{suffix}" in names}
        if found:
            return found, unit
    return {}, ""


def capacity_chart(report: ReportTable) -> Figure | Skipped:
    heading = CHART_HEADINGS["capacity_utilization"]
    names = report.table.column_names
    states, unit = state_columns(names)
    missing = [c for c in ("day", "flavor") if c not in names] + ([] if states else ["<state>_node_hours"])
    if missing:
        return Skipped(heading, f"{report.name} lacks columns {', '.join(missing)}")
    rows, how = select_rows(report.table, ["day", "flavor"])
    if not rows.num_rows:
        return Skipped(heading, f"{report.name} has no rows with a day and a flavor")
    day_values, daily = _daily(rows, "flavor", list(states.values()))
    days = [_category(d) for d in day_values]
    ranked = sorted(daily.items(), key=lambda kv: -sum(sum(v) for v in kv[1].values()))
    kinds = _flavor_kinds(rows)
    svgs = []
    for i, (flavor, per) in enumerate(ranked[:MAX_FLAVORS]):
        series = [Series(state, per[col], STATE_COLORS[state]) for state, col in states.items()]
        name = human_text(flavor) + (f" ({kinds[flavor]})" if flavor in kinds else "")
        svgs.append(stacked_bars(
            f"chart-capacity-{i}", title=f"{name}: {unit} by state per day",
            heading=name,
            desc=f"Stacked bars per day of {unit} in states {', '.join(states)} for flavor "
                 f"{human_text(flavor)}, {days[0]} to {days[-1]}.",
            categories=days, series=series, unit=unit, height=260))
    caption = (f"{unit.capitalize()} per day, stacked by state, one chart per flavor (largest first), from "
               f"{report.name}: {how}. The API counts provisioned nodes, not jobs.")
    if len(ranked) > MAX_FLAVORS:
        caption += f" {len(ranked) - MAX_FLAVORS} smaller flavors are not drawn; they are in the table."
    caption += _gap_note(rows)
    return Figure("chart-capacity", heading, caption, svgs)


def _flavor_kinds(rows: pa.Table) -> dict[object, str]:
    """flavor -> "nvidia-t4 x 8" where the rows say which accelerator a flavor's nodes carry."""
    names = rows.column_names
    if not {"accelerator_type", "accelerator_cards"} <= set(names):
        return {}
    out = {}
    for r in rows.select(["flavor", "accelerator_type", "accelerator_cards"]).to_pylist():
        if r["accelerator_type"] and r["accelerator_cards"]:
            out[r["flavor"]] = f"{human_text(r['accelerator_type'])} x {r['accelerator_cards']}"
    return out


def _gap_note(rows: pa.Table) -> str:
    """Say so when some days were not fully observed: their bars are lower than the capacity was."""
    if "has_gap" not in rows.column_names or not pa.types.is_boolean(rows["has_gap"].type):
        return ""
    gap_days = pc.unique(rows.filter(pc.fill_null(rows["has_gap"], False))["day"])
    if not len(gap_days):
        return ""
    return (f" {len(gap_days)} day(s) include unobserved hours (has_gap): their node-hours are incomplete, "
            "not zero capacity.")


# ---- (1b) accelerator use per flavor: provisioned, allocatable, allocated, measured busy ------------------

USE_PARTS = (("measured busy", "#009E73"), ("allocated, not measured busy", "#E69F00"),
             ("unallocated", "#D55E00"), ("not allocatable", "#8C96A3"))
_USE_COLUMNS = ("provisioned_card_hours", "allocatable_card_hours", "allocated_card_hours", "accelerator_util_mean")


def accelerator_use_chart(report: ReportTable) -> Figure | Skipped:
    """Card-hours per day and flavor, split so that the stack is the provisioned card-hours: measured busy
    (allocated x the measured mean), allocated but not measured busy, unallocated (allocatable - allocated), and
    not allocatable (provisioned - allocatable: creating, abnormal, deleting nodes, or no runtime reading)."""
    heading = CHART_HEADINGS["accelerator_use"]
    names = report.table.column_names
    missing = [c for c in ("day", "flavor", *_USE_COLUMNS) if c not in names]
    if missing:
        return Skipped(heading, f"{report.name} lacks columns {', '.join(missing)}")
    rows, how = select_rows(report.table, ["day", "flavor", "provisioned_card_hours"])
    rows = rows.filter(pc.greater(_as_float(rows["provisioned_card_hours"]), 0))
    if not rows.num_rows:
        return Skipped(heading, f"{report.name} has no accelerator rows")
    prov = pc.fill_null(_as_float(rows["provisioned_card_hours"]), 0.0)
    alloc_able = pc.fill_null(_as_float(rows["allocatable_card_hours"]), 0.0)
    alloc = pc.fill_null(_as_float(rows["allocated_card_hours"]), 0.0)
    busy = pc.multiply(alloc, pc.divide(pc.fill_null(_as_float(rows["accelerator_util_mean"]), 0.0), 100.0))
    parts = {
        "busy": busy,
        "allocated_idle": pc.max_element_wise(pc.subtract(alloc, busy), 0.0),
        "unallocated": pc.max_element_wise(pc.subtract(alloc_able, alloc), 0.0),
        "not_allocatable": pc.max_element_wise(pc.subtract(prov, alloc_able), 0.0),
    }
    slim = pa.table({"day": rows["day"], "flavor": rows["flavor"], **parts})
    day_values, daily = _daily(slim, "flavor", list(parts))
    days = [_category(d) for d in day_values]
    ranked = sorted(daily.items(), key=lambda kv: -sum(sum(v) for v in kv[1].values()))
    kinds = _flavor_kinds(rows)
    svgs = []
    for i, (flavor, per) in enumerate(ranked[:MAX_FLAVORS]):
        series = [Series(label, per[key], color) for (label, color), key in zip(USE_PARTS, parts)]
        name = human_text(flavor) + (f" ({kinds[flavor]})" if flavor in kinds else "")
        svgs.append(stacked_bars(
            f"chart-use-{i}", title=f"{name}: card-hours per day by use", heading=name,
            desc=f"Stacked bars per day of accelerator card-hours of flavor {human_text(flavor)}: "
                 f"{', '.join(label for label, _ in USE_PARTS)}, {days[0]} to {days[-1]}; the stack is the "
                 "provisioned card-hours.",
            categories=days, series=series, unit="card-hours", height=260))
    caption = (f"Accelerator card-hours per day, one chart per flavor (largest first), from {report.name}: {how}. "
               "The stack is what is provisioned (paid for). Allocated = held by workloads (ShowPoolRuntimeMetrics); "
               "measured busy = allocated x the day's mean measured utilization (ShowPoolMonitor), 0 when not "
               "measured; not allocatable = nodes not available to the scheduler, or hours without a reading. "
               "Pools with several flavors are left out (their readings are per pool).")
    if len(ranked) > MAX_FLAVORS:
        caption += f" {len(ranked) - MAX_FLAVORS} smaller flavors are not drawn; they are in the table."
    return Figure("chart-use", heading, caption, svgs)


# ---- (1c) the idle pools that cost most -----------------------------------------------------------------

def idle_chart(report: ReportTable) -> Figure | Skipped:
    """The pools with the most estimated idle cost over the period (idle card-hours without a price file)."""
    heading = CHART_HEADINGS["idle_capacity"]
    names = report.table.column_names
    if not {"pool_id", "idle_card_hours"} <= set(names):
        return Skipped(heading, f"{report.name} lacks pool_id or idle_card_hours")
    table = report.table
    if not table.num_rows:
        return Skipped(heading, "no pool was idle in the period")
    priced = "estimated_idle_cost" in names and pc.sum(pc.is_valid(table["estimated_idle_cost"])).as_py()
    measure, unit = ("estimated_idle_cost", "estimated idle cost") if priced else ("idle_card_hours",
                                                                                  "idle card-hours")
    label = "display_name" if "display_name" in names else "pool_id"
    slim = pa.table({"pool": table["pool_id"], "label": table[label], "v": _as_float(table[measure]),
                     "flagged": table["flagged"] if "flagged" in names else pa.nulls(table.num_rows, pa.bool_())})
    totals = slim.group_by(["pool"]).aggregate([("v", "sum"), ("label", "max"), ("flagged", "max")]).to_pylist()
    totals = sorted((t for t in totals if t["v_sum"]), key=lambda t: (-t["v_sum"], str(t["pool"])))
    if not totals:
        return Skipped(heading, f"no idle pool has a {unit}")
    currency = ""
    if priced and "currency" in names:
        currency = next((c for c in table["currency"].to_pylist() if c), "")
    colors = {True: ("flagged: idle for the configured number of days", "#D55E00"),
              None: ("idle on some days", "#E69F00"), False: ("idle on some days", "#E69F00")}
    bars = []
    for t in totals[:MAX_IDLE_POOLS]:
        name = human_text(t["label_max"] or t["pool"])
        text = f"{fmt_number(t['v_sum'])}{' ' + currency if currency else ''}"
        bars.append(Bar(name, t["v_sum"], colors[t["flagged_max"]][1],
                        f"{name} · pool {human_text(t['pool'])} · {text} {unit}", text))
    legend = list(dict.fromkeys(colors[t["flagged_max"]] for t in totals[:MAX_IDLE_POOLS]))
    svg = horizontal_bars("chart-idle", title=f"Top idle pools by {unit}",
                          desc=f"Horizontal bars of the {len(bars)} pools with the most {unit} over the period.",
                          bars=bars, unit=unit + (f" ({currency})" if currency else ""), legend=legend)
    caption = (f"The {len(bars)} of {len(totals)} idle pools with the most {unit} over the period, from "
               f"{report.name}. Idle = accelerator cards unallocated, or allocated but measured below the threshold "
               "(see the table's basis)." + (" ESTIMATED from the price file: not a bill." if priced else
                                              " No price file: card-hours instead of cost."))
    return Figure("chart-idle", heading, caption, [svg])


# ---- (2) billing mix ------------------------------------------------------------------------------------

def billing_chart(report: ReportTable) -> Figure | Skipped:
    heading = CHART_HEADINGS["billing_modes"]
    names = report.table.column_names
    measure = next((m for m in ("nodes", "pools", "node_hours") if m in names), None)
    if "billing_mode" not in names or measure is None:
        return Skipped(heading, f"{report.name} lacks billing_mode or a nodes/pools/node_hours column")
    unit = measure.replace("_", "-")
    rows, how = select_rows(report.table, ["billing_mode"] + (["day"] if "day" in names else []))
    if not rows.num_rows:
        return Skipped(heading, f"{report.name} has no rows with a billing mode")
    if "day" not in names:
        return _billing_totals(report, rows, measure, unit, how, heading)
    day_values, daily = _daily(rows, "billing_mode", [measure])
    days = [_category(d) for d in day_values]
    ranked = sorted(daily.items(), key=lambda kv: -sum(kv[1][measure]))
    series = [Series(human_text(mode), per[measure], PALETTE[i]) for i, (mode, per)
              in enumerate(ranked[:MAX_BILLING_MODES])]
    if len(ranked) > MAX_BILLING_MODES:
        rest = [sum(per[measure][d] for _, per in ranked[MAX_BILLING_MODES:]) for d in range(len(days))]
        series.append(Series("other", rest, OTHER_COLOR))
    svg = stacked_bars("chart-billing", title=f"{unit.capitalize()} per billing mode per day",
                       desc=f"Stacked bars per day of {unit} split by billing mode "
                            f"({', '.join(s.name for s in series)}), {days[0]} to {days[-1]}.",
                       categories=days, series=series, unit=unit)
    caption = f"{unit.capitalize()} per day, stacked by billing mode, from {report.name}: {how}."
    if any(mode == "unknown" for mode, _ in ranked):
        caption += UNKNOWN_BILLING
    return Figure("chart-billing", heading, caption, [svg])


def _billing_totals(report: ReportTable, rows: pa.Table, measure: str, unit: str, how: str,
                    heading: str) -> Figure:
    rows, latest = _latest(rows)
    slim = pa.table({"g": _plain(rows["billing_mode"]), "v": _as_float(rows[measure])})
    totals = sorted(((r["g"], r["v_sum"] or 0.0) for r in slim.group_by("g").aggregate([("v", "sum")])
                     .to_pylist()), key=lambda kv: -kv[1])
    bars = [Bar(human_text(mode), v, PALETTE[i % len(PALETTE)], f"{human_text(mode)}: {fmt_number(v)} {unit}",
                fmt_number(v)) for i, (mode, v) in enumerate(totals)]
    svg = horizontal_bars("chart-billing", title=f"{unit.capitalize()} per billing mode",
                          desc=f"One bar per billing mode showing its {unit}.", bars=bars, unit=unit, legend=[])
    caption = f"{unit.capitalize()} per billing mode from {report.name}: {how} {latest}".rstrip() + "."
    return Figure("chart-billing", heading, caption, [svg])


# ---- (3) upcoming expiries ------------------------------------------------------------------------------

AUTO_RENEW = {True: ("auto-renew on", "#0072B2"), False: ("auto-renew off", "#D55E00"),
              None: ("auto-renew unknown", "#8C96A3")}


def expiry_chart(report: ReportTable, today: date) -> Figure | Skipped:
    heading = CHART_HEADINGS["subscriptions"]
    names = report.table.column_names
    label_col = next((c for c in ("display_name", "pool_id", "order_id") if c in names), None)
    if label_col is None or not ({"days_to_expiry", "estimated_expiry"} & set(names)):
        return Skipped(heading, f"{report.name} lacks a name column or days_to_expiry/estimated_expiry")
    table, latest = _latest(report.table)
    items = _expiry_items(table, label_col, today)
    if not items:
        return Skipped(heading, f"{report.name} has no subscription with a known expiry")
    items.sort(key=lambda it: (it["days"], it["label"]))
    shown = items[:MAX_EXPIRIES]
    bars = [_expiry_bar(it) for it in shown]
    present = sorted({it["auto_renew"] for it in shown}, key=lambda v: (v is None, v is False))
    svg = horizontal_bars("chart-expiry", title="Estimated days until expiry, soonest first",
                          desc=f"Horizontal bars of days to expiry for the {len(shown)} subscriptions that "
                               f"expire soonest; colour shows auto-renew.",
                          bars=bars, unit="days to expiry", legend=[AUTO_RENEW[v] for v in present])
    caption = (f"The {len(shown)} soonest of {len(items)} subscriptions by days to expiry, from {report.name}"
               f"{' ' + latest if latest else ''}. ESTIMATED: the API gives no expiry date; each bar is the term start "
               f"plus the period bought (see expiry_basis). Negative values are past the estimate. Subscriptions "
               f"with an implausible term are left out.")
    return Figure("chart-expiry", heading, caption, [svg])


def _expiry_items(table: pa.Table, label_col: str, today: date) -> list[dict]:
    wanted = [c for c in ("pool_id", "display_name", "order_id", "estimated_expiry", "days_to_expiry",
                          "auto_renew") if c in table.column_names]
    seen, items = set(), []
    for row in table.select(list(dict.fromkeys(wanted + [label_col]))).to_pylist():
        days = _days_left(row, today)
        key = (row.get("pool_id"), row.get("order_id"))
        if days is None or (key != (None, None) and key in seen):
            continue
        seen.add(key)
        auto = row.get("auto_renew")
        items.append({"label": human_text(row[label_col]) or human_text(row.get("pool_id")) or "(unnamed)",
                      "days": days, "row": row, "auto_renew": auto if isinstance(auto, bool) else None})
    return items


def _days_left(row: dict, today: date) -> int | None:
    days = row.get("days_to_expiry")
    if isinstance(days, (int, float, Decimal)) and math.isfinite(days):
        return int(days)
    expiry = row.get("estimated_expiry")
    if isinstance(expiry, datetime):
        expiry = expiry.date()
    return (expiry - today).days if isinstance(expiry, date) else None


def _expiry_bar(item: dict) -> Bar:
    row, days = item["row"], item["days"]
    label, color = AUTO_RENEW[item["auto_renew"]]
    when = "today" if days == 0 else (f"{days} d" if days > 0 else f"expired {-days} d ago")
    parts = [item["label"]]
    if row.get("pool_id") and row.get("pool_id") != item["label"]:
        parts.append(f"pool {row['pool_id']}")
    if row.get("order_id"):
        parts.append(f"order {row['order_id']}")
    if row.get("estimated_expiry") is not None:
        parts.append(f"expires {_category(row['estimated_expiry'])}")
    parts += [when, label]
    return Bar(item["label"], days, color, " · ".join(human_text(p) for p in parts), when)
