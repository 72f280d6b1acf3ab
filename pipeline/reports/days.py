"""History, daily reports and exports, on top of the committed lake. The CLI and Dagster both call this.

- history (`pool_changes`, `pool_versions`) moves forward one snapshot at a time (lake/_history/, see
  pipeline/history/store.py);
- a day's reports replace `lake/reports/<report>/day=<D>.parquet`;
- exports are computed from the catalog for a range of days and written by `pipeline.reports.export`.
Both apply one gate (`gate`): a snapshot that failed an integrity check is left out of every report, as if it
had never been taken; nothing else is held back (a partial snapshot counts for what it read). Both state what
they miss in one Coverage (`report_coverage`): the Dagster partition in its metadata, every export in its files.
Every file lands by rename, and the catalog is rebuilt afterwards, so readers never see a half-written file.
"""

import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb

from pipeline.config import Config
from pipeline.catalog.docs import table_docs
from pipeline.lake.layout import Layout, new_write_id
from pipeline.lake.lease import discard, work_dir
from pipeline.lake.store import read_manifests, writer_lock
from pipeline.reports.levels import SOURCE as SPLIT_SOURCE, split_levels
from pipeline.reports.model import Coverage, CoverageItem, RegionCoverage
from pipeline.lake.commit import refresh_catalog

# Checks whose failure means a snapshot's numbers cannot be trusted. `at_least_one_target_ok` is not one of
# them: a snapshot in which every call failed simply contributes no observation to the reports.
INTEGRITY_CHECKS = ("every_target_has_fetch_row", "az_counts_add_up", "no_duplicate_keys", "no_negative_counts",
                    "counts_in_range")
HISTORY_TABLES = ("pool_changes", "pool_versions")
LOCK_WAIT_S = 900.0


@dataclass(frozen=True)
class ExportResult:
    from_day: date
    to_day: date
    files: dict[str, list[Path]]
    rows: dict[str, int]
    coverage: Coverage


@dataclass(frozen=True)
class DayReports:
    """One day's stored report partition: rows per report, and what the day's reports miss."""

    day: date
    rows: dict[str, int]
    coverage: Coverage


def _work_dir(layout: Layout, kind: str) -> Path:
    # A leased folder: garbage collection (here or on another host) leaves it alone while we work.
    layout.ensure()
    return work_dir(layout.tmp, f"{kind}-{new_write_id()}")


def _catalog(layout: Layout) -> duckdb.DuckDBPyConnection:
    if not layout.catalog.exists():
        raise FileNotFoundError(f"no catalog at {layout.catalog}: take a snapshot first")
    return duckdb.connect(str(layout.catalog), read_only=True)


def run_history(layout: Layout, *, rebuild: bool = False, lock_wait_s: float = LOCK_WAIT_S):
    """Bring pool_changes and pool_versions up to date with the committed snapshots, then rebuild the catalog.
    Each snapshot not folded in yet is folded in (pipeline/history/store.py); `rebuild` recomputes the whole
    history from every snapshot instead (the reference computation). Takes the writer lock. Returns a
    history_store.HistoryResult."""
    from pipeline.history.store import rebuild_history, update_history

    with writer_lock(layout, wait_s=lock_wait_s):
        result = rebuild_history(layout) if rebuild else update_history(layout)
        refresh_catalog(layout)
    return result


def refresh_history(layout: Layout) -> dict[str, int]:
    """`run_history`, returning table -> rows."""
    return run_history(layout).rows


def gate(layout: Layout) -> dict[str, tuple[str, ...]]:
    """THE report gate, the one rule every report path applies (Dagster's daily partitions and `poolscope
    report` alike): snapshot id -> the integrity checks it failed, for each snapshot that failed one. Those
    snapshots are left out of every report. Nothing else is: a partial snapshot (some projects unreadable)
    counts for what it read, and a rejected document fails no integrity check (it yields no rows at all)."""
    out = {}
    for m in read_manifests(layout):
        failed = tuple(name for name in INTEGRITY_CHECKS if m.checks.get(name) is False)
        if failed:
            out[m.snapshot_id] = failed
    return out


def _day_of(manifest) -> date:
    return datetime.fromisoformat(manifest.snapshot_at).astimezone(timezone.utc).date()


def report_coverage(layout: Layout, con: duckdb.DuckDBPyConnection, from_day: date, to_day: date,
                    excluded: dict[str, tuple[str, ...]], *, period_hours: float = 1.0) -> Coverage:
    """What the reports of [from_day, to_day] miss: the snapshots the gate excluded (with the checks they
    failed) and the targets the used snapshots could not read (with the error code and about how many hours)."""
    from pipeline.reports.tables import coverage_rows

    items = []
    for m in read_manifests(layout):
        if m.snapshot_id in excluded and from_day <= _day_of(m) <= to_day:
            checks = ", ".join(excluded[m.snapshot_id])
            items.append(CoverageItem(
                kind="excluded_snapshot", snapshot_id=m.snapshot_id, reason=checks, snapshots=1,
                hours=float(period_hours),
                text=f"snapshot {m.snapshot_id} is excluded from the reports (pool_changes still lists its "
                     f"changes): it failed the integrity check(s) {checks}"))
    rows = coverage_rows(con, from_day, to_day, period_hours=period_hours, exclude=excluded)
    head = next((r for r in rows if r["kind"] == "snapshots"), None)
    total = head["snapshots"] if head else 0
    regions = tuple(RegionCoverage(region=r["region"], snapshots=int(r["snapshots"]),
                                   projects_expected=int(r["projects_expected"]),
                                   projects_read=int(r["projects_read"]), projects_partly=int(r["projects_partly"]),
                                   projects_unread=int(r["projects_unread"]))
                    for r in rows if r["kind"] == "region")
    for r in rows:
        if r["kind"] in ("snapshots", "region"):
            continue
        n = int(r["snapshots"])
        project = (f"{r['project_name']} ({r['project_id']}, {r['region']})" if r["project_name"]
                   else f"{r['project_id']} ({r['region']})")
        where = f"pool {r['pool_id']} of project {project}" if r["pool_id"] is not None else f"project {project}"
        span = r["first_snapshot"] if n == 1 else f"{r['first_snapshot']} .. {r['last_snapshot']}"
        items.append(CoverageItem(
            kind=r["kind"], region=r["region"], project_id=r["project_id"], project_name=r["project_name"],
            pool_id=r["pool_id"],
            reason=r["reason"], snapshots=n, hours=float(r["hours"]),
            text=f"{where} could not be read in {n} snapshot(s) ({span}), about {_hours(r['hours'])}: "
                 f"{r['reason']}"))
    used = int(total) - sum(1 for i in items if i.kind == "excluded_snapshot")
    return Coverage(snapshots=int(total), used=max(used, 0), items=tuple(items), regions=regions,
                    hours_expected=float(head["hours_expected"]) if head and total else None,
                    hours_observed=float(head["hours"]) if head and total else None)


def _hours(hours: float) -> str:
    return f"{hours:g} h"


def build_day(layout: Layout, day: date, *, period_hours: float = 1.0, prices: Path | None = None,
              idle=None) -> DayReports:
    """Compute one day's reports, through the gate, store them as that day's partition and rebuild the catalog
    (the Dagster partition of a day, backfills included)."""
    with writer_lock(layout, wait_s=LOCK_WAIT_S):
        con = _catalog(layout)
        try:
            done = store_days(layout, con, [day], period_hours=period_hours, prices=prices, idle=idle)
        finally:
            con.close()
        refresh_catalog(layout)
    return done[day]


def store_days(layout: Layout, con: duckdb.DuckDBPyConnection, days: list[date], *, period_hours: float = 1.0,
               prices: Path | None = None, idle=None) -> dict[date, DayReports]:
    """Each day's reports, through the gate, read from `con` (the catalog, or views over the lake) and stored as
    that day's partition, each file by rename. The caller holds the writer lock and rebuilds the catalog."""
    from pipeline.reports.tables import build_reports

    excluded = gate(layout)
    out = {}
    stored = []
    for day in days:
        work = _work_dir(layout, "reports")
        try:
            rows = build_reports(con, work, day, day, period_hours=period_hours, prices=prices, exclude=excluded,
                                 **({"idle": idle} if idle is not None else {}))
            coverage = report_coverage(layout, con, day, day, excluded, period_hours=period_hours)
            for f in work.glob("*.parquet"):
                dest = layout.lake / "reports" / f.stem / f"day={day.isoformat()}.parquet"
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(f, dest)
                stored.append(dest)
        finally:
            discard(work)
        out[day] = DayReports(day, rows, coverage)
    if layout.in_bucket:
        from pipeline.lake.bucket_sync import push_reports

        push_reports(layout, stored)
    return out


def snapshot_days(layout: Layout) -> list[date]:
    return sorted({_day_of(m) for m in read_manifests(layout)})


def default_range(layout: Layout, window_days: int) -> tuple[date, date]:
    days = snapshot_days(layout)
    to_day = days[-1] if days else datetime.now(timezone.utc).date()
    return to_day - timedelta(days=window_days - 1), to_day


REPORT_TITLES = {
    "capacity_utilization": "Capacity: provisioned nodes and node-hours per state",
    "billing_modes": "Billing modes: pools, nodes and node-hours",
    "subscriptions": "Subscriptions: yearly/monthly pools and estimated expiry",
    "idle_capacity": "Idle accelerators: unallocated or unused, with estimated idle cost",
    "pressure": "Pressure: queued work and no free capacity (where to add nodes)",
    "pool_changes": "Pool changes between snapshots",
}
_HOURS = {c: "hours" for c in ("requested_node_hours", "creating_node_hours", "available_node_hours",
                                 "abnormal_node_hours", "deleting_node_hours", "provisioned_node_hours",
                                 "observed_hours", "carried_hours", "gap_hours", "creating_card_hours",
                                 "available_card_hours", "abnormal_card_hours", "deleting_card_hours",
                                 "provisioned_card_hours", "node_hours", "requested_nodes",
                                 "allocation_hours", "allocatable_card_hours", "allocated_card_hours",
                                 "measured_hours", "queued_hours", "pressure_hours", "idle_card_hours")}
_SHARES = {c: "percent" for c in ("allocated_card_share", "allocated_cpu_share", "allocated_memory_share",
                                  "idle_share")}
FORMAT_HINTS = {
    "capacity_utilization": {**_HOURS, **_SHARES, "available_share_of_requested": "percent",
                             "abnormal_share": "percent", "estimated_cost": "currency",
                             "accelerator_util_mean": "float", "accelerator_util_p95_max": "float"},
    "idle_capacity": {**_HOURS, **_SHARES, "estimated_cost": "currency", "estimated_idle_cost": "currency",
                      "accelerator_util_mean": "float"},
    "pressure": {**_HOURS, **_SHARES, "mean_queued": "float"},
    "billing_modes": {**_HOURS, "estimated_cost": "currency"},
    # an estimate good to the day: its clock time would only suggest a precision it does not have
    "subscriptions": {"subscribed_at": "date", "estimated_expiry": "date"},
}
# What the HTML page shows of each report (the files have every column), and in which order: newest day and
# largest first, since the page shows the first rows only.
_NODE_HOURS = ("provisioned_node_hours", "available_node_hours", "abnormal_node_hours", "provisioned_card_hours",
               "observed_hours", "carried_hours", "gap_hours")
HTML_COLUMNS = {
    "capacity_total": ("day", "pools", "provisioned_node_hours", "available_node_hours", "creating_node_hours",
                       "abnormal_node_hours", "deleting_node_hours", "provisioned_card_hours",
                       "available_card_hours", "observed_hours", "carried_hours", "gap_hours", "estimated_cost"),
    "capacity_by_region": ("day", "region", "pools", *_NODE_HOURS),
    "capacity_by_project": ("day", "region", "project_name", "project_id", "pools", *_NODE_HOURS),
    "capacity_by_pool": ("day", "project_name", "pool_id", "display_name", "requested_nodes", *_NODE_HOURS),
    "capacity_by_flavor": ("day", "pool_id", "display_name", "flavor", "accelerator_type", "accelerator_cards",
                           "provisioned_node_hours", "available_node_hours", "provisioned_card_hours",
                           "carried_hours", "gap_hours"),
    "capacity_sub_pools": ("day", "pool_id", "display_name", "parent", "provisioned_node_hours",
                           "available_node_hours", "provisioned_card_hours"),
    "billing_modes": ("day", "region", "project_name", "project_id", "billing_mode", "period_type", "pools",
                      "logical_pools", "nodes", "node_hours", "carried_hours", "gap_hours", "note"),
    "subscriptions": ("display_name", "pool_id", "project_name", "order_id", "period_num", "period_type",
                      "auto_renew", "subscribed_at", "subscribed_at_basis", "estimated_expiry", "days_to_expiry",
                      "implausible_term"),
    "pool_changes": ("snapshot_at", "project_name", "pool_id", "display_name", "change_type", "changed_fields"),
    # the capacity views above stay as wide as the page allows: the use columns are in the files and the charts
    "idle_capacity": ("day", "display_name", "project_name", "flavors", "idle_reason", "idle_days", "flagged",
                      "allocated_card_share", "accelerator_util_mean", "idle_card_hours", "estimated_idle_cost"),
    "pressure": ("day", "display_name", "project_name", "flavors", "pressure_hours", "queued_hours", "mean_queued",
                 "max_queued", "allocated_card_share"),
}
HTML_SORT = {
    **{name: (("day", "descending"), ("provisioned_node_hours", "descending"))
       for name in ("capacity_total", "capacity_by_region", "capacity_by_project", "capacity_by_pool",
                    "capacity_by_flavor", "capacity_sub_pools")},
    "billing_modes": (("day", "descending"), ("node_hours", "descending")),
    "pool_changes": (("snapshot_at", "descending"),),
    "idle_capacity": (("day", "descending"), ("estimated_idle_cost", "descending"), ("idle_card_hours", "descending")),
    "pressure": (("day", "descending"), ("pressure_hours", "descending")),
}


def _html_view(name: str, table) -> dict:
    names = set(table.column_names)
    return {"html_columns": tuple(c for c in HTML_COLUMNS.get(name, ()) if c in names),
            "html_sort": tuple((c, o) for c, o in HTML_SORT.get(name, ()) if c in names)}


def export(config: Config, from_day: date | None = None, to_day: date | None = None,
           formats: tuple[str, ...] = ("xlsx", "csv", "html"), out_dir: Path | None = None) -> ExportResult:
    """History, then every report for [from_day, to_day], exported as files. Returns what was written."""
    from pipeline.reports.headline import build_headline
    from pipeline.reports.tables import REPORTS, IdleRule, headline_rows, report_arrow
    from pipeline.reports.export import ReportTable, export_reports

    layout = config.layout()
    refresh_history(layout)
    if from_day is None or to_day is None:
        d_from, d_to = default_range(layout, config.reports.window_days)
        from_day, to_day = from_day or d_from, to_day or d_to
    if from_day > to_day:
        raise ValueError(f"--from {from_day} is after --to {to_day}")
    docs = table_docs()
    excluded = gate(layout)
    con = _catalog(layout)
    try:
        tables = []
        for name in REPORTS:
            tables.append((name, report_arrow(con, name, from_day, to_day,
                                              period_hours=config.schedule.period_hours,
                                              prices=config.reports.prices, exclude=excluded,
                                              idle=IdleRule.of(config.reports))))
        coverage = report_coverage(layout, con, from_day, to_day, excluded,
                                   period_hours=config.schedule.period_hours)
        heads = headline_rows(con, from_day, to_day, exclude=excluded)
        if _has_view(con, "pool_changes"):
            # the project's name beside its id, as in the reports (table projects)
            changes = con.sql(
                "SELECT c.snapshot_id, c.snapshot_at, c.region, c.project_id, n.project_name, "
                "c.* EXCLUDE (snapshot_id, snapshot_at, region, project_id) FROM pool_changes AS c "
                "LEFT JOIN (SELECT region, project_id, arg_max(name, snapshot_at) AS project_name FROM projects "
                "GROUP BY ALL) AS n USING (region, project_id) "
                "WHERE c.snapshot_at >= $from::DATE AND c.snapshot_at < $to::DATE + 1 "
                "ORDER BY c.snapshot_id, c.project_id, c.pool_id",
                params={"from": from_day, "to": to_day},
            )
            tables.append(("pool_changes", changes.to_arrow_table()))
    finally:
        con.close()
    params = {"from_day": from_day.isoformat(), "to_day": to_day.isoformat(),
              "period_hours": f"{config.schedule.period_hours:g} h (the schedule period)",
              "as_of": "the report's reference time"}
    reports = []
    for name, table in tables:
        doc = docs.get(name)
        basis = basis_text(doc.description, params) if doc else ""
        columns = {c: basis_text(d, params) for c, d in doc.columns.items()} if doc else {}
        if "project_name" in table.column_names:
            columns.setdefault("project_name", "the project's IAM name (table projects); empty when IAM was "
                                               "not read")
        if name == SPLIT_SOURCE:
            # one table per level, each summable on its own (pipeline/reports/levels.py)
            for level, part in split_levels(table):
                reports.append(ReportTable(
                    name=level.name, title=level.title, basis=f"{level.note} {basis}", table=part,
                    columns={c: d for c, d in columns.items() if c in part.column_names},
                    formats={c: h for c, h in FORMAT_HINTS.get(name, {}).items() if c in part.column_names},
                    **_html_view(level.name, part)))
            continue
        reports.append(ReportTable(name=name, title=REPORT_TITLES.get(name, name), basis=basis, table=table,
                                   columns=columns,
                                   formats={c: h for c, h in FORMAT_HINTS.get(name, {}).items()
                                            if c in table.column_names},
                                   **_html_view(name, table)))
    by_name = {r.name: r.table for r in reports}
    headline = build_headline(heads, subscriptions=by_name.get("subscriptions"),
                              capacity_total=by_name.get("capacity_total"), coverage=coverage)
    files = export_reports(reports, out_dir or config.exports_dir, formats, period=(from_day, to_day),
                           generated_at=datetime.now(timezone.utc), coverage=coverage, headline=headline)
    if layout.in_bucket and Path(out_dir or config.exports_dir) == config.exports_dir and config.reports.output is None:
        # The default place of a bucket lake's exports is the bucket: a pod's work folder does not outlive it.
        from pipeline.lake.bucket_sync import push_exports

        push_exports(layout, config.exports_dir, [f for fs in files.values() for f in fs])
    return ExportResult(from_day, to_day, files, {name: t.num_rows for name, t in tables}, coverage)


def basis_text(text: str, params: dict[str, str]) -> str:
    """A SQL header's text for a reader: `$period_hours` and the other parameters become their values, and the
    closing "Parameters: ..." sentence (for SQL callers) goes."""
    text = re.sub(r"\s*Parameters: .*$", "", text, flags=re.S)
    return re.sub(r"\$([a-z_]+)", lambda m: params.get(m.group(1), m.group(0)), text)


def _has_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    # fetchall: in duckdb 2 a half-read result (fetchone) keeps the connection busy.
    return bool(con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [name]).fetchall()[0][0])
