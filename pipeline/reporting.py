"""History, daily reports and exports, on top of the committed lake. The CLI and Dagster both call this.

- history (`pool_changes`, `pool_versions`) moves forward one snapshot at a time (lake/_history/, see
  pipeline/lake/history_store.py);
- a day's reports replace `lake/reports/<report>/day=<D>.parquet`; they are gated: a day with a snapshot whose
  integrity checks failed is not reported until the snapshot is fixed (renormalized) or removed;
- exports are computed from the catalog for a range of days and written by `pipeline.reports.export`.
Every file lands by rename, and the catalog is rebuilt afterwards, so readers never see a half-written file.
"""

import os
import shutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb

from pipeline.config import Config
from pipeline.lake.docs import table_docs
from pipeline.lake.layout import Layout, new_write_id
from pipeline.lake.store import read_manifests, writer_lock
from pipeline.snapshot import refresh_catalog

# Checks whose failure means a snapshot's numbers cannot be trusted. `at_least_one_target_ok` is not one of
# them: a snapshot in which every call failed simply contributes no observation to the reports.
INTEGRITY_CHECKS = ("every_target_has_fetch_row", "az_counts_add_up", "no_duplicate_keys", "no_negative_counts")
HISTORY_TABLES = ("pool_changes", "pool_versions")
LOCK_WAIT_S = 900.0


class ReportGateError(RuntimeError):
    """A day's reports are held back because one of its snapshots failed an integrity check."""


@dataclass(frozen=True)
class ExportResult:
    from_day: date
    to_day: date
    files: dict[str, list[Path]]
    rows: dict[str, int]


def _work_dir(layout: Layout, kind: str) -> Path:
    # The -p<pid> suffix tells garbage collection that a live process owns this folder.
    path = layout.tmp / f"{kind}-{new_write_id()}-p{os.getpid()}"
    path.mkdir(parents=True)
    return path


def _catalog(layout: Layout) -> duckdb.DuckDBPyConnection:
    if not layout.catalog.exists():
        raise FileNotFoundError(f"no catalog at {layout.catalog}: take a snapshot first")
    return duckdb.connect(str(layout.catalog), read_only=True)


def run_history(layout: Layout, *, rebuild: bool = False, lock_wait_s: float = LOCK_WAIT_S):
    """Bring pool_changes and pool_versions up to date with the committed snapshots, then rebuild the catalog.
    Each snapshot not folded in yet is folded in (pipeline/lake/history_store.py); `rebuild` recomputes the whole
    history from every snapshot instead (the reference computation). Takes the writer lock. Returns a
    history_store.HistoryResult."""
    from pipeline.lake.history_store import rebuild_history, update_history

    with writer_lock(layout, wait_s=lock_wait_s):
        result = rebuild_history(layout) if rebuild else update_history(layout)
        refresh_catalog(layout)
    return result


def refresh_history(layout: Layout) -> dict[str, int]:
    """`run_history`, returning table -> rows."""
    return run_history(layout).rows


def gate_problems(layout: Layout, day: date) -> list[str]:
    """Why `day` cannot be reported: each of its snapshots that failed an integrity check."""
    problems = []
    for m in read_manifests(layout):
        if datetime.fromisoformat(m.snapshot_at).astimezone(timezone.utc).date() != day:
            continue
        failed = [name for name in INTEGRITY_CHECKS if m.checks.get(name) is False]
        if failed:
            problems.append(f"snapshot {m.snapshot_id} failed {', '.join(failed)}")
    return problems


def build_day(layout: Layout, day: date, *, period_hours: float = 1.0, prices: Path | None = None) -> dict[str, int]:
    """Compute one day's reports and store them as that day's partition. Raises ReportGateError when gated."""
    from pipeline.lake.reports import build_reports

    problems = gate_problems(layout, day)
    if problems:
        raise ReportGateError(f"reports for {day} are held back: " + "; ".join(problems))
    with writer_lock(layout, wait_s=LOCK_WAIT_S):
        work = _work_dir(layout, "reports")
        try:
            con = _catalog(layout)
            try:
                rows = build_reports(con, work, day, day, period_hours=period_hours, prices=prices)
            finally:
                con.close()
            for f in work.glob("*.parquet"):
                dest = layout.lake / "reports" / f.stem / f"day={day.isoformat()}.parquet"
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(f, dest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        refresh_catalog(layout)
    return rows


def snapshot_days(layout: Layout) -> list[date]:
    return sorted({datetime.fromisoformat(m.snapshot_at).astimezone(timezone.utc).date()
                   for m in read_manifests(layout)})


def default_range(layout: Layout, window_days: int) -> tuple[date, date]:
    days = snapshot_days(layout)
    to_day = days[-1] if days else datetime.now(timezone.utc).date()
    return to_day - timedelta(days=window_days - 1), to_day


REPORT_TITLES = {
    "capacity_utilization": "Capacity: provisioned nodes and node-hours per state",
    "billing_modes": "Billing modes: pools, nodes and node-hours",
    "subscriptions": "Subscriptions: yearly/monthly pools and estimated expiry",
    "pool_changes": "Pool changes between snapshots",
}
FORMAT_HINTS = {
    "capacity_utilization": {"available_share_of_requested": "percent", "abnormal_share": "percent",
                             "estimated_cost": "currency"},
    "billing_modes": {"estimated_cost": "currency"},
}


def export(config: Config, from_day: date | None = None, to_day: date | None = None,
           formats: tuple[str, ...] = ("xlsx", "csv", "html"), out_dir: Path | None = None) -> ExportResult:
    """History, then every report for [from_day, to_day], exported as files. Returns what was written."""
    from pipeline.lake.reports import REPORTS, report_arrow
    from pipeline.reports.export import ReportTable, export_reports

    layout = Layout(config.root)
    refresh_history(layout)
    if from_day is None or to_day is None:
        d_from, d_to = default_range(layout, config.reports.window_days)
        from_day, to_day = from_day or d_from, to_day or d_to
    if from_day > to_day:
        raise ValueError(f"--from {from_day} is after --to {to_day}")
    docs = table_docs()
    con = _catalog(layout)
    try:
        tables = []
        for name in REPORTS:
            tables.append((name, report_arrow(con, name, from_day, to_day,
                                              period_hours=config.schedule.period_hours,
                                              prices=config.reports.prices)))
        if _has_view(con, "pool_changes"):
            changes = con.sql(
                "SELECT * FROM pool_changes WHERE snapshot_at >= $from::DATE AND snapshot_at < $to::DATE + 1 "
                "ORDER BY snapshot_id, project_id, pool_id",
                params={"from": from_day, "to": to_day},
            )
            tables.append(("pool_changes", changes.to_arrow_table()))
    finally:
        con.close()
    reports = [
        ReportTable(name=name, title=REPORT_TITLES.get(name, name), basis=docs[name].description if name in docs
                    else "", table=table, columns=docs[name].columns if name in docs else {},
                    formats=FORMAT_HINTS.get(name, {}))
        for name, table in tables
    ]
    files = export_reports(reports, out_dir or config.exports_dir, formats, period=(from_day, to_day),
                           generated_at=datetime.now(timezone.utc))
    return ExportResult(from_day, to_day, files, {name: t.num_rows for name, t in tables})


def _has_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    # fetchall: in duckdb 2 a half-read result (fetchone) keeps the connection busy.
    return bool(con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [name]).fetchall()[0][0])
