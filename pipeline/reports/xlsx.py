"""The workbook: a README sheet that states each report's basis, then one typed, filterable sheet per report.

Cells keep their types (numbers, dates, booleans) so finance can sum and pivot without re-parsing text.
Every string goes through write_string and the workbook refuses to turn strings into formulas, because
pool names, labels and messages come from the cloud API: a pool called `=HYPERLINK(...)` stays text.
Worksheets stream to disk row by row (constant_memory), so a large report costs no more memory than a
small one.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Callable

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from .model import Coverage, ReportTable
from .values import Kind, clean_text, display_width, human_text, iter_rows, kind_of, type_label

# Excel's hard limits: rows per sheet (one is the header), characters per cell, sheet-name length.
MAX_DATA_ROWS = 1_048_575
MAX_CELL_CHARS = 32_767
MAX_SHEET_NAME = 31
# Numbers beyond 2**53 lose digits as Excel doubles (an id would silently change), so they stay text.
MAX_EXACT_INT = 2**53
# Column width in characters: wide enough for a pool name, narrow enough to keep several columns on screen.
MIN_WIDTH, MAX_WIDTH = 8, 60
# Room for the autofilter drop-down arrow next to a header.
FILTER_BUTTON_WIDTH = 3
# Column widths are fitted to the first rows only: measuring every cell of a large report costs a tenth
# of the write time, and widths are capped anyway.
WIDTH_SAMPLE_ROWS = 10_000

WORKBOOK_OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    # NaN/inf become #NUM!/#DIV/0! error cells (xlsxwriter writes them as the constant formulas `#NUM!`
    # and `1/0`): visible, and they poison a SUM instead of being silently skipped like a blank.
    "nan_inf_to_errors": True,
}

NUMBER_FORMATS = {
    "int": "#,##0",
    "float": "#,##0.00",
    "percent": "0.0%",
    "currency": "#,##0.00",
    "hours": "#,##0.0",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm:ss",
}
KIND_DEFAULT_HINT = {Kind.INT: "int", Kind.FLOAT: "float", Kind.DECIMAL: "float", Kind.DATE: "date",
                     Kind.DATETIME: "datetime"}
KIND_FORMATS = {Kind.TIME: "hh:mm:ss", Kind.DURATION: "[h]:mm:ss"}
NUMERIC_HINTS = frozenset({"int", "float", "percent", "currency", "hours"})
DATE_HINTS = frozenset({"date", "datetime"})

_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
# Excel refuses a sheet named History (it keeps one for change tracking); README is ours.
_RESERVED_SHEETS = {"history", "readme"}


def sheet_names(report_names: list[str]) -> list[str]:
    """One legal, unique (case-insensitively, as Excel compares) sheet name per report, in order."""
    used = set(_RESERVED_SHEETS)
    names = []
    for raw in report_names:
        base = _SHEET_FORBIDDEN.sub("_", raw).strip("'")[:MAX_SHEET_NAME] or "report"
        candidate, n = base, 2
        while candidate.lower() in used:
            suffix = f"~{n}"
            candidate = base[: MAX_SHEET_NAME - len(suffix)] + suffix
            n += 1
        used.add(candidate.lower())
        names.append(candidate)
    return names


@dataclass
class _Styles:
    title: Format
    bold: Format
    header: Format
    wrap: Format
    note: Format
    numbers: dict[str, Format]

    @classmethod
    def create(cls, wb: xlsxwriter.Workbook) -> _Styles:
        return cls(
            title=wb.add_format({"bold": True, "font_size": 16}),
            bold=wb.add_format({"bold": True, "valign": "top"}),
            header=wb.add_format({"bold": True, "bg_color": "#E8EDF3", "bottom": 1, "valign": "top"}),
            wrap=wb.add_format({"text_wrap": True, "valign": "top"}),
            note=wb.add_format({"italic": True, "font_color": "#555555"}),
            numbers={key: wb.add_format({"num_format": fmt}) for key, fmt in
                     {**NUMBER_FORMATS, **{k.value: v for k, v in KIND_FORMATS.items()}}.items()},
        )


@dataclass
class SheetResult:
    rows_written: int
    truncated: bool


def write_workbook(path: Path, reports: list[ReportTable], *, title: str, generated_at: str, period: str,
                   csv_names: dict[str, str], coverage: Coverage | None = None) -> None:
    """Write the whole workbook to `path` (a temporary file the caller renames into place)."""
    # constant_memory buffers each sheet's rows in a file under `tmpdir` and deletes it on close, except
    # for a sheet that never got a row (xlsxwriter 3.3): a private folder takes whatever is left along.
    with tempfile.TemporaryDirectory(prefix="poolscope-xlsx-") as scratch:
        _write_workbook(xlsxwriter.Workbook(str(path), {**WORKBOOK_OPTIONS, "tmpdir": scratch}), reports,
                        title=title, generated_at=generated_at, period=period, csv_names=csv_names,
                        coverage=coverage)


def _write_workbook(wb: xlsxwriter.Workbook, reports: list[ReportTable], *, title: str, generated_at: str,
                    period: str, csv_names: dict[str, str], coverage: Coverage | None) -> None:
    try:
        wb.set_properties({"title": clean_text(title), "comments": f"Generated {generated_at}"})
        styles = _Styles.create(wb)
        readme = wb.add_worksheet("README")
        names = sheet_names([r.name for r in reports])
        # Report sheets are written first so the README can say how many rows each really holds;
        # with constant_memory each sheet streams independently, so the order of writing is free.
        results = [_write_report_sheet(wb.add_worksheet(sheet), report, styles)
                   for sheet, report in zip(names, reports)]
        _write_readme(readme, styles, title=title, generated_at=generated_at, period=period,
                      reports=list(zip(names, reports, results)), csv_names=csv_names, coverage=coverage)
    except BaseException:
        # close() releases the row buffers' file handles; the half-written workbook is discarded by the
        # caller, and the original error is the one worth raising.
        with contextlib.suppress(Exception):
            wb.close()
        raise
    wb.close()


# ---- README -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _SheetLink:
    sheet: str


class _Lines:
    """Rows written top to bottom, as constant_memory mode requires."""

    def __init__(self, ws: Worksheet, int_format: Format) -> None:
        self.ws, self.row, self.int_format = ws, 0, int_format

    def put(self, *cells: tuple[str, Format | None] | str | int | _SheetLink | None) -> None:
        for col, cell in enumerate(cells):
            if cell is None:  # an empty cell
                continue
            if isinstance(cell, int):
                self.ws.write_number(self.row, col, cell, self.int_format)
                continue
            if isinstance(cell, _SheetLink):
                # Sheet names come from sheet_names(): no quote can break out of the reference.
                self.ws.write_url(self.row, col, f"internal:'{cell.sheet}'!A1", string=cell.sheet)
                continue
            text, fmt = (cell, None) if isinstance(cell, str) else cell
            self.ws.write_string(self.row, col, _cell_text(text), fmt)
        self.row += 1

    def skip(self) -> None:
        self.row += 1


def _write_readme(ws: Worksheet, st: _Styles, *, title: str, generated_at: str, period: str,
                  reports: list[tuple[str, ReportTable, SheetResult]], csv_names: dict[str, str],
                  coverage: Coverage | None = None) -> None:
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, 100, st.wrap)
    ws.set_column(2, 2, 16)
    out = _Lines(ws, st.numbers["int"])
    out.put((title, st.title))
    out.put(("Generated at", st.bold), generated_at)
    out.put(("Period", st.bold), period)
    if coverage is not None:
        # Right under the period: what the numbers below do not cover is the first thing to know about them.
        out.put(("Coverage", st.bold), (coverage.summary, st.wrap))
        for line in coverage.lines()[1:]:
            out.put(None, (line, st.wrap))
    out.put(("Conventions", st.bold),
            "Timestamps with a time zone are shown in UTC. Empty cells are NULL (no value); a number that is "
            "not a number or infinite shows as #NUM! or #DIV/0!. Text is always stored as text: a value that "
            "starts with = + - @ is shown as written and never evaluated as a formula.")
    out.skip()
    out.put(("Sheet", st.header), ("Report", st.header), ("Rows", st.header))
    for sheet, report, _ in reports:
        out.put(_SheetLink(sheet), report.title, report.num_rows)
    for sheet, report, result in reports:
        out.skip()
        _readme_report(out, st, sheet, report, result, csv_names.get(report.name))


def _readme_report(out: _Lines, st: _Styles, sheet: str, report: ReportTable, result: SheetResult,
                   csv_name: str | None) -> None:
    out.put((report.title, st.title))
    out.put(("Sheet", st.bold), _SheetLink(sheet))
    rows = f"{report.num_rows:,}"
    if result.truncated:
        rest = f"; all rows are in {csv_name}" if csv_name else ""
        rows += f" (the sheet holds the first {result.rows_written:,}, Excel's limit{rest})"
    elif report.num_rows == 0:
        rows += " (no rows for this period)"
    out.put(("Rows", st.bold), rows)
    out.put(("Basis", st.bold), (report.basis, st.wrap))
    out.put(("Column", st.header), ("Description", st.header), ("Type", st.header))
    for field in report.table.schema:
        out.put(field.name, (report.description(field.name) or "(no description)", st.wrap),
                type_label(field.type))


# ---- report sheets -------------------------------------------------------------------------------------

CellWriter = Callable[[Worksheet, int, int, object], None]


@dataclass
class _Column:
    write: CellWriter
    width: int
    measure: Callable[[object], int]


def _write_report_sheet(ws: Worksheet, report: ReportTable, st: _Styles) -> SheetResult:
    columns = [_plan_column(field, report.hint(field.name), st) for field in report.table.schema]
    for col, field in enumerate(report.table.schema):
        ws.write_string(0, col, _cell_text(field.name), st.header)
        columns[col].width = max(columns[col].width, display_width(field.name) + FILTER_BUTTON_WIDTH)
    ws.freeze_panes(1, 0)

    limit = min(report.num_rows, MAX_DATA_ROWS)
    row = 0
    for row, values in enumerate(iter_rows(report.table, limit), start=1):
        measure = row <= WIDTH_SAMPLE_ROWS
        for col, (value, plan) in enumerate(zip(values, columns)):
            if value is not None:
                plan.write(ws, row, col, value)
                if measure:
                    plan.width = max(plan.width, plan.measure(value))

    if not columns:
        ws.write_string(0, 0, "This report has no columns.", st.note)
    elif report.num_rows == 0:
        ws.write_string(1, 0, "No rows in this report for the period.", st.note)
    if columns:
        ws.autofilter(0, 0, row, len(columns) - 1)
    for col, plan in enumerate(columns):
        ws.set_column(col, col, min(max(plan.width, MIN_WIDTH), MAX_WIDTH) + 1)
    return SheetResult(rows_written=row, truncated=report.num_rows > limit)


def _plan_column(field, hint: str | None, st: _Styles) -> _Column:
    kind = kind_of(field.type)
    if kind.numeric:
        # DuckDB's HUGEINT arrives as decimal(38, 0): a whole number, formatted as one.
        default = "int" if kind is Kind.DECIMAL and field.type.scale == 0 else KIND_DEFAULT_HINT[kind]
        hint = hint if hint in NUMERIC_HINTS else default
        return _Column(_number_writer(kind, st.numbers[hint]), 0, _number_measure(hint))
    if kind in (Kind.DATE, Kind.DATETIME):
        hint = hint if hint in DATE_HINTS else KIND_DEFAULT_HINT[kind]
        return _Column(_date_writer(st.numbers[hint]), 0, lambda _v, n=len(NUMBER_FORMATS[hint]): n)
    if kind in KIND_FORMATS:
        fmt = st.numbers[kind.value]
        return _Column(lambda ws, r, c, v: ws.write_datetime(r, c, v, fmt), 0, lambda _v: 10)
    if kind is Kind.BOOL:
        return _Column(lambda ws, r, c, v: ws.write_boolean(r, c, v), 0, lambda _v: 5)
    return _Column(lambda ws, r, c, v: ws.write_string(r, c, _cell_text(human_text(v))), 0, _text_measure)


def _number_writer(kind: Kind, fmt: Format) -> CellWriter:
    def write(ws: Worksheet, r: int, c: int, v: object) -> None:
        # Floats are approximate anyway (and inf must stay an error cell); exact kinds must stay exact.
        if kind is not Kind.FLOAT and abs(v) > MAX_EXACT_INT:
            ws.write_string(r, c, str(v))
        else:
            ws.write_number(r, c, float(v) if kind is Kind.DECIMAL else v, fmt)
    return write


def _date_writer(fmt: Format) -> CellWriter:
    def write(ws: Worksheet, r: int, c: int, v: date) -> None:
        # Excel's calendar starts in 1900: earlier values would become wrong numbers, so they stay text.
        if v.year < 1900:
            ws.write_string(r, c, v.isoformat())
        elif isinstance(v, datetime):
            ws.write_datetime(r, c, v.replace(tzinfo=None), fmt)  # already UTC (values.iter_rows)
        else:
            ws.write_datetime(r, c, v, fmt)
    return write


def _number_measure(hint: str) -> Callable[[object], int]:
    template = {"int": "{:,.0f}", "percent": "{:.1%}", "hours": "{:,.1f}"}.get(hint, "{:,.2f}")

    def measure(v: object) -> int:
        try:
            return len(template.format(v))
        except (ValueError, TypeError):
            return 8
    return measure


def _text_measure(v: object) -> int:
    text = v if isinstance(v, str) else human_text(v)
    if len(text) > MAX_WIDTH * 4:  # past the cap anyway; skip measuring a long text in detail
        return MAX_WIDTH
    return max((display_width(line) for line in text.splitlines()), default=0)


def _cell_text(text: str) -> str:
    return clean_text(text)[:MAX_CELL_CHARS]
