"""The headline figures of an export: the numbers a manager reads first, from rows the reports already hold.

Pure functions: the rows come from sql/reports/_headline.sql (nodes and cards by billing mode and state at
the period's first and last snapshot), the subscriptions and capacity_total tables, and the Coverage.
"""

from collections.abc import Iterable

import pyarrow as pa

from .model import Coverage, Headline, HeadlineFigure

STATES = ("available", "creating", "abnormal", "deleting")
MODES = {"yearly_monthly": "yearly/monthly", "pay_per_use": "pay-per-use", "unknown": "billing unknown"}
EXPIRY_DAYS = 30


def build_headline(rows: Iterable[dict], *, subscriptions: pa.Table | None, capacity_total: pa.Table | None,
                   coverage: Coverage | None) -> Headline | None:
    """The figures, or None when the period has no snapshot the reports use."""
    rows = list(rows)
    last = [r for r in rows if r["moment"] == "last"]
    first = [r for r in rows if r["moment"] == "first"]
    if not last and coverage is None:
        return None
    last_id = last[0]["snapshot_id"] if last else None
    first_id = first[0]["snapshot_id"] if first else None
    figures = [
        _totals("Provisioned nodes", last, first, first_id, "nodes"),
        _totals("Accelerator cards", last, first, first_id, "cards"),
        _billing(last),
        _abnormal(last),
        _period_hours(capacity_total),
        _expiring(subscriptions),
    ]
    if coverage is not None:
        figures.append(_coverage(coverage))
    return Headline(as_of=f"snapshot {last_id}" if last_id else "no snapshot", figures=tuple(f for f in figures if f))


def _sum(rows: list[dict], measure: str, **match) -> int:
    return sum(r[measure] or 0 for r in rows if all(r[k] == v for k, v in match.items()))


def _change(now: int, before: int, first_id: str | None, last: list[dict]) -> str:
    if first_id is None or not last or first_id == last[0]["snapshot_id"]:
        return "one snapshot in the period: no change to show"
    delta = now - before
    sign = "+" if delta > 0 else ("\u2212" if delta < 0 else "\u00b1")
    return f"{sign}{abs(delta):,} since {first_id} ({before:,})"


def _totals(label: str, last: list[dict], first: list[dict], first_id: str | None, measure: str) -> HeadlineFigure:
    now = _sum(last, measure)
    split = " \u00b7 ".join(f"{state} {_sum(last, measure, state=state):,}" for state in STATES)
    return HeadlineFigure(label, f"{now:,}", f"{split}. {_change(now, _sum(first, measure), first_id, last)}")


def _billing(last: list[dict]) -> HeadlineFigure | None:
    if not last:
        return None
    parts = [f"{name} {_sum(last, 'nodes', billing_mode=mode):,} nodes / {_sum(last, 'cards', billing_mode=mode):,}"
             f" cards" for mode, name in MODES.items()]
    paid = _sum(last, "nodes", billing_mode="yearly_monthly")
    return HeadlineFigure("Yearly/monthly nodes", f"{paid:,}",
                          " \u00b7 ".join(parts) + ". Paid in every state, used or not.")


def _abnormal(last: list[dict]) -> HeadlineFigure | None:
    if not last:
        return None
    n = _sum(last, "nodes", state="abnormal")
    return HeadlineFigure("Abnormal nodes", f"{n:,}", f"{_sum(last, 'cards', state='abnormal'):,} cards on them",
                          tone="warn" if n else "ok")


def _period_hours(capacity_total: pa.Table | None) -> HeadlineFigure | None:
    if capacity_total is None or not capacity_total.num_rows:
        return None
    rows = capacity_total.to_pylist()
    node_hours = sum(r.get("provisioned_node_hours") or 0 for r in rows)
    card_hours = sum(r.get("provisioned_card_hours") or 0 for r in rows)
    carried = sum(r.get("carried_hours") or 0 for r in rows)
    gap = sum(r.get("gap_hours") or 0 for r in rows)
    detail = f"{card_hours:,.0f} card-hours over {len(rows)} day(s)"
    if carried or gap:
        detail += f"; {carried:,.0f} pool-hours carried forward, {gap:,.0f} unobserved"
    return HeadlineFigure("Node-hours in the period", f"{node_hours:,.0f}", detail,
                          tone="warn" if gap else "")


def _expiring(subscriptions: pa.Table | None) -> HeadlineFigure | None:
    if subscriptions is None:
        return None
    rows = subscriptions.to_pylist()
    soon = [r for r in rows if r.get("days_to_expiry") is not None and 0 <= r["days_to_expiry"] <= EXPIRY_DAYS]
    manual = sum(1 for r in soon if r.get("auto_renew") is not True)
    odd = sum(1 for r in rows if r.get("implausible_term"))
    detail = f"{manual:,} without auto-renew; estimated (the API gives no expiry date)"
    if odd:
        detail += f"; {odd:,} with an implausible term, not estimated"
    return HeadlineFigure(f"Subscriptions expiring in {EXPIRY_DAYS} days", f"{len(soon):,}", detail,
                          tone="warn" if manual else "")


def _coverage(coverage: Coverage) -> HeadlineFigure:
    expected = sum(r.projects_expected for r in coverage.regions)
    read = sum(r.projects_read for r in coverage.regions)
    detail = f"{read:,} of {expected:,} project(s) read in every snapshot"
    if coverage.hours_expected is not None and coverage.hours_observed is not None:
        detail += f"; {coverage.hours_observed:,.4g} of {coverage.hours_expected:,.4g} h observed"
    return HeadlineFigure("Coverage", "complete" if coverage.complete else "incomplete", detail,
                          tone="ok" if coverage.complete else "warn")
