"""One CSV per report: UTF-8, a header row, RFC 4180 quoting and line ends, ISO 8601 dates and times.

Formula injection: spreadsheet programs evaluate a CSV cell that starts with `=`, `+`, `-` or `@` (and,
in some, tab or carriage return) as a formula, and a CSV cannot mark a cell as text the way XLSX can.
Pool names and labels come from the cloud API, so any *text* cell starting with one of those characters
is written with a leading apostrophe (`'=HYPERLINK(...)`), the OWASP-recommended neutralisation, which
spreadsheets show as the literal text. Numbers, dates and booleans are never prefixed (a negative number
stays `-3`); text cells pay the price of a visible `'` before, e.g., a label value `-gpu`. Programs that
read these files should strip one leading `'` from text columns where the next character is one of the
six; the README of the workbook and the HTML page say the same.

Lists and structs are written as JSON so a program can read them back unambiguously; NULL is an empty
field, and booleans are `true`/`false`.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .model import Coverage, ReportTable
from .values import Kind, iter_rows, kind_of, machine_text

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def guard_formula(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _csv_cell(kind: Kind):
    if kind is Kind.TEXT or kind is Kind.BINARY or kind is Kind.NESTED:
        return lambda v: guard_formula(machine_text(v))
    return machine_text


def write_csv(path: Path, report: ReportTable) -> None:
    cells = [_csv_cell(kind_of(field.type)) for field in report.table.schema]
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow([guard_formula(name) for name in report.table.column_names])
        for values in iter_rows(report.table):
            writer.writerow([cell(v) if v is not None else "" for cell, v in zip(cells, values)])


COVERAGE_COLUMNS = ("kind", "snapshot_id", "region", "project_id", "project_name", "pool_id", "reason", "snapshots", "hours",
                    "hours_expected", "projects_expected", "projects_read", "projects_partly", "projects_unread",
                    "statement")


def write_coverage_csv(path: Path, coverage: Coverage) -> None:
    """coverage.csv: a `summary` row (snapshots = the period's snapshots, hours observed and expected, projects
    expected and read over every region; statement = the summary), one `region` row per region (its projects),
    then one row per thing missing (an excluded snapshot, a target not read), with its sentence."""
    def num(v: float | None) -> str:
        return "" if v is None else f"{v:g}"

    regions = coverage.regions
    totals = [sum(getattr(r, f) for r in regions) if regions else ""
              for f in ("projects_expected", "projects_read", "projects_partly", "projects_unread")]
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(COVERAGE_COLUMNS)
        writer.writerow(["summary", "", "", "", "", "", "", coverage.snapshots, num(coverage.hours_observed),
                         num(coverage.hours_expected), *totals, guard_formula(coverage.summary)])
        for r in regions:
            writer.writerow(["region", "", guard_formula(r.region), "", "", "", "", r.snapshots, "", "",
                             r.projects_expected, r.projects_read, r.projects_partly, r.projects_unread,
                             guard_formula(r.text)])
        for i in coverage.items:
            text = [guard_formula(v or "") for v in (i.kind, i.snapshot_id, i.region, i.project_id,
                                                     i.project_name, i.pool_id, i.reason)]
            writer.writerow([*text, i.snapshots, f"{i.hours:g}", "", "", "", "", "", guard_formula(i.text)])
