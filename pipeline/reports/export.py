"""export_reports: report tables -> the files finance and capacity planners open (XLSX, CSV, HTML).

File names are fixed (`poolscope-reports.xlsx`, `poolscope-reports.html`, `<report name>.csv`, and
`coverage.csv` when a Coverage is given) and built only from validated report names, so nothing a caller or
the cloud API supplies can place a file outside `out_dir`. Each file is written to a temporary name in
`out_dir` and renamed over the old one, so a reader never sees a half-written file; a failure part-way leaves
earlier formats new and later ones old.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timezone
from pathlib import Path

from .charts import build_charts
from .csvfile import write_coverage_csv, write_csv
from .files import atomic_path, prepare_dir, target_path
from .htmlpage import render_page
from .model import Coverage, Headline, ReportTable, validate_name
from .xlsx import write_workbook

__all__ = ["FORMATS", "HTML_FILE", "WORKBOOK_FILE", "ReportTable", "export_reports"]

FORMATS = ("xlsx", "csv", "html")
WORKBOOK_FILE = "poolscope-reports.xlsx"
HTML_FILE = "poolscope-reports.html"
COVERAGE_NAME = "coverage"


def export_reports(reports: list[ReportTable], out_dir: Path | str, formats: Iterable[str] = FORMATS, *,
                   title: str = "poolscope reports", generated_at: datetime | None = None,
                   period: tuple[date, date] | None = None,
                   coverage: Coverage | None = None, headline: Headline | None = None) -> dict[str, list[Path]]:
    """Write the reports in each format; returns {format: files written}, in the order asked for.

    `coverage`, what the reports miss, is stated by every format: at the top of the HTML page, on the
    workbook's README sheet, and as `coverage.csv` next to the report CSVs (a CSV has no room for a note).
    `headline`, the figures a reader sees first, opens the HTML page.

    Raises ValueError (before writing anything) for an unknown format, an unsafe or duplicate report
    name, or a period that ends before it starts.
    """
    wanted = _check_formats(formats)
    reports = _check_reports(reports)
    if coverage is not None and COVERAGE_NAME in {r.name for r in reports}:
        raise ValueError(f"a report may not be named {COVERAGE_NAME!r}: that file states the coverage")
    if not isinstance(title, str):
        raise TypeError("title must be a str")
    generated = _generated_at(generated_at)
    context = {"title": title, "generated_at": _datetime_text(generated), "period": _period_text(period)}
    out = prepare_dir(out_dir)
    csv_names = {r.name: f"{r.name}.csv" for r in reports} if "csv" in wanted else {}

    written: dict[str, list[Path]] = {}
    for fmt in wanted:
        if fmt == "csv":
            written[fmt] = [_write(out, csv_names[r.name], lambda p, r=r: write_csv(p, r)) for r in reports]
            if coverage is not None:
                written[fmt].append(_write(out, f"{COVERAGE_NAME}.csv", lambda p: write_coverage_csv(p, coverage)))
        elif fmt == "xlsx":
            written[fmt] = [_write(out, WORKBOOK_FILE, lambda p: write_workbook(
                p, reports, csv_names=csv_names, coverage=coverage, **context))]
        else:
            charts = build_charts(reports, today=generated.date())
            page = render_page(reports, charts, csv_names=csv_names,
                               workbook_name=WORKBOOK_FILE if "xlsx" in wanted else None, coverage=coverage,
                               headline=headline, **context)
            written[fmt] = [_write(out, HTML_FILE, lambda p: p.write_text(page, encoding="utf-8"))]
    return written


def _write(out_dir: Path, file_name: str, write) -> Path:
    target = target_path(out_dir, file_name)
    with atomic_path(target) as tmp:
        write(tmp)
    return target


def _check_formats(formats: Iterable[str]) -> list[str]:
    # A bare string would otherwise be iterated letter by letter ("csv" -> "c", "s", "v").
    if isinstance(formats, str):
        formats = (formats,)
    wanted = list(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown export format(s) {', '.join(map(repr, unknown))}; known: {', '.join(FORMATS)}")
    return wanted


def _check_reports(reports: Iterable[ReportTable]) -> list[ReportTable]:
    reports = list(reports)
    for r in reports:
        if not isinstance(r, ReportTable):
            raise TypeError(f"expected ReportTable, got {type(r).__name__}")
        # Again here: a frozen dataclass can still be altered with object.__setattr__.
        validate_name(r.name)
    names = [r.name for r in reports]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate report names (each names a file): {duplicates}")
    return reports


def _generated_at(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(timezone.utc).replace(microsecond=0)
    if not isinstance(value, datetime):
        raise TypeError("generated_at must be a datetime")
    return value.astimezone(timezone.utc) if value.tzinfo is not None else value


def _datetime_text(value: datetime) -> str:
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text} UTC" if value.tzinfo is not None else text


def _period_text(period: tuple[date, date] | None) -> str:
    if period is None:
        return "not stated"
    start, end = period
    if not (isinstance(start, date) and isinstance(end, date)):
        raise TypeError("period must be a (date, date) pair")
    start = start.date() if isinstance(start, datetime) else start
    end = end.date() if isinstance(end, datetime) else end
    if end < start:
        raise ValueError(f"period ends ({end}) before it starts ({start})")
    return f"{start.isoformat()} to {end.isoformat()}"
