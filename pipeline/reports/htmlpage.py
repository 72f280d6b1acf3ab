"""The HTML export: one self-contained page (styles, charts, script inline) that opens offline from a mail.

Everything shown comes through `esc`, because pool names, labels and messages come from the cloud API.
A Content-Security-Policy admits only this page's own style and script (by hash) and no network at all,
so even a mistake in escaping could not run a script or fetch anything. The table sorting script is an
enhancement: without it the page is complete, and headers only look clickable once it has run.
"""

from __future__ import annotations

import base64
import hashlib
import math
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from . import xlsx
from .charts import Figure, Skipped
from .model import Coverage, Headline, ReportTable
from .svg import esc
from .values import Kind, human_datetime, human_text, iter_rows, kind_of, type_label

# Rows shown per report: enough to read, few enough that the page stays light in a mail attachment (the
# demo's page stays under 500 KB); every row is in the CSV and the workbook.
MAX_HTML_ROWS = 100
# Text longer than this is cut on the page (a created pool's changed_fields lists every field path).
MAX_CELL_TEXT = 160
# Identifier columns: 32-hex ids and snapshot ids are shown ellipsized, the full value on hover and in a copy.
ID_COLUMNS = frozenset({"snapshot_id", "previous_snapshot_id", "project_id", "pool_id", "parent", "root",
                        "order_id", "workspace_id", "first_snapshot", "last_snapshot"})
# Units shown under a column name, by the name's ending (first match wins).
UNITS = (("node_hours", "node-h"), ("card_hours", "card-h"), ("_hours", "h"), ("days_to_expiry", "days"),
         ("_nodes", "nodes"), ("nodes", "nodes"))

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
  color: #1d2430; background: #fff; margin: 0 auto; padding: 24px 24px 48px; max-width: 1400px; }
header { border-bottom: 2px solid #1f4e99; margin-bottom: 16px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 6px; border-bottom: 1px solid #d5dce4; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 20px 0 6px; }
.meta { color: #4a5564; margin: 4px 0 12px; }
nav ol { margin: 4px 0 0; padding-left: 22px; }
a { color: #1f4e99; }
figure { margin: 12px 0 24px; }
figcaption { color: #333c48; max-width: 760px; margin-top: 4px; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 0; border: 1px solid #e3e8ee; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 8px; }
.basis { max-width: 900px; }
.note { color: #4a5564; font-style: italic; }
.scroll { overflow-x: auto; max-height: 70vh; overflow-y: auto; border: 1px solid #d5dce4; }
table.report { border-collapse: collapse; font-size: 12.5px; width: 100%; }
table.report th, table.report td { padding: 3px 6px; border-bottom: 1px solid #e6eaef; text-align: left;
  vertical-align: top; }
table.report td { max-width: 22em; overflow-wrap: anywhere; white-space: nowrap; }
table.report td.wrap { white-space: normal; min-width: 16em; }
table.report thead th { position: sticky; top: 0; background: #e8edf3; font-weight: 600; line-height: 1.2;
  vertical-align: bottom; }
table.report th .unit { display: block; font-weight: normal; color: #5a6573; font-size: 11px; }
table.report td.id { max-width: 9em; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
  font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 11.5px; }
table.report td.num { white-space: nowrap; }
.headline { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 12px;
  margin: 12px 0 20px; }
.headline .fig { border: 1px solid #d5dce4; border-top: 4px solid #1f4e99; border-radius: 4px;
  padding: 8px 12px; }
.headline .fig.warn { border-top-color: #b26a00; }
.headline .fig.ok { border-top-color: #2e7d32; }
.headline .label { color: #4a5564; font-size: 13px; }
.headline .value { font-size: 28px; font-weight: 600; font-variant-numeric: tabular-nums; }
.headline .detail { color: #333c48; font-size: 12.5px; }
table.report th.sortable { cursor: pointer; }
table.report th.sortable::after { content: " \\2195"; color: #7a8594; }
table.report th[aria-sort="ascending"]::after { content: " \\25B2"; color: #1d2430; }
table.report th[aria-sort="descending"]::after { content: " \\25BC"; color: #1d2430; }
table.report td.num, table.report th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.report td.null::after { content: "\\2013"; color: #9aa5b1; }
table.report tbody tr:nth-child(even) { background: #f7f9fb; }
dl.columns { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 6px 0; }
dl.columns dt { font-family: ui-monospace, Menlo, Consolas, monospace; }
dl.columns dd { margin: 0; }
section.coverage { border-left: 4px solid #2e7d32; padding: 2px 12px; margin: 12px 0; background: #f3f8f3; }
section.coverage.incomplete { border-left-color: #b26a00; background: #fff6e5; }
section.coverage h2 { margin-top: 8px; border: none; }
footer { margin-top: 40px; color: #4a5564; font-size: 12px; border-top: 1px solid #d5dce4; padding-top: 8px; }
"""

JS = """
(function () {
  "use strict";
  function sortValue(cell, numeric) {
    if (cell.classList.contains("null")) return null;
    var raw = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
    if (!numeric) return raw;
    var n = parseFloat(raw);
    return isNaN(n) ? null : n;
  }
  function compare(a, b) {
    if (a === b) return 0;
    if (a === null) return 1;
    if (b === null) return -1;
    if (typeof a === "number") return a - b;
    return a.localeCompare(b, undefined, {numeric: true});
  }
  function sortBy(table, th, index) {
    var numeric = th.classList.contains("num");
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (row, i) {
      return {row: row, key: sortValue(row.cells[index], numeric), i: i};
    });
    rows.sort(function (x, y) {
      var c = compare(x.key, y.key);
      if (c !== 0 && x.key !== null && y.key !== null && !ascending) c = -c;
      return c || x.i - y.i;
    });
    rows.forEach(function (r) { body.appendChild(r.row); });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.report"), function (table) {
    if (!table.tHead || !table.tBodies.length) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.classList.add("sortable");
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(table, th, index); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th, index); }
      });
    });
  });
})();
"""


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode() + "'"


CSP = (f"default-src 'none'; style-src {_csp_hash(CSS)}; script-src {_csp_hash(JS)}; img-src data:; "
       "base-uri 'none'; form-action 'none'")


def render_page(reports: list[ReportTable], charts: list[Figure | Skipped], *, title: str, generated_at: str,
                period: str, csv_names: dict[str, str], workbook_name: str | None,
                coverage: Coverage | None = None, headline: Headline | None = None) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{esc(title)}</title>",
        f"<style>{CSS}</style>",
        "</head><body>",
        _header(title, generated_at, period),
        _headline_section(headline),
        _coverage_section(coverage),
        _toc(reports, charts),
        "<main>",
        _charts_section(charts),
        *(_report_section(r, csv_names.get(r.name), workbook_name) for r in reports),
        "</main>",
        _footer(bool(csv_names)),
        f"<script>{JS}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _header(title: str, generated_at: str, period: str) -> str:
    return (f"<header><h1>{esc(title)}</h1>"
            f'<p class="meta">Period: <strong>{esc(period)}</strong> · Generated at '
            f"<strong>{esc(generated_at)}</strong></p></header>")


def _headline_section(headline: Headline | None) -> str:
    if headline is None or not headline.figures:
        return ""
    figs = "".join(
        f'<div class="fig{" " + f.tone if f.tone else ""}"><div class="label">{esc(f.label)}</div>'
        f'<div class="value">{esc(f.value)}</div><div class="detail">{esc(f.detail)}</div></div>'
        for f in headline.figures)
    return (f'<section id="headline" aria-labelledby="headline-h"><h2 id="headline-h">At a glance</h2>'
            f'<p class="meta">Physical pools (a Logical sub-pool\'s nodes are its parent\'s), as of '
            f'{esc(headline.as_of)}.</p><div class="headline">{figs}</div></section>')


def _coverage_section(coverage: Coverage | None) -> str:
    if coverage is None:
        return ""
    state = "complete" if coverage.complete else "incomplete"
    items = "".join(f"<li>{esc(line)}</li>" for line in coverage.lines()[1:])
    return (f'<section id="coverage" class="coverage {state}" aria-labelledby="coverage-h">'
            f'<h2 id="coverage-h">Coverage</h2><p>{esc(coverage.summary)}</p>'
            f'{f"<ul>{items}</ul>" if items else ""}</section>')


def _toc(reports: list[ReportTable], charts: list[Figure | Skipped]) -> str:
    items = []
    if charts:
        sub = "".join(f'<li><a href="#{c.id}">{esc(c.heading)}</a></li>' for c in charts if isinstance(c, Figure))
        items.append(f'<li><a href="#charts">Charts</a>{f"<ol>{sub}</ol>" if sub else ""}</li>')
    items += [f'<li><a href="#report-{r.name}">{esc(r.title)}</a> '
              f'<span class="meta">({r.num_rows:,} rows)</span></li>' for r in reports]
    if not items:
        items.append("<li>No reports were exported.</li>")
    return f'<nav aria-label="Contents"><h2 id="contents">Contents</h2><ol>{"".join(items)}</ol></nav>'


def _charts_section(charts: list[Figure | Skipped]) -> str:
    if not charts:
        return ""
    out = ['<section id="charts" aria-labelledby="charts-h"><h2 id="charts-h">Charts</h2>']
    for chart in charts:
        if isinstance(chart, Skipped):
            out.append(f'<p class="note">{esc(chart.heading)}: not drawn, because {esc(chart.reason)}.</p>')
            continue
        out.append(f'<figure id="{chart.id}"><h3>{esc(chart.heading)}</h3><div class="charts">')
        out += chart.svgs
        out.append("</div>")
        out.append(f"<figcaption>{esc(chart.caption)}</figcaption></figure>")
    out.append("</section>")
    return "\n".join(out)


def _report_section(report: ReportTable, csv_name: str | None, workbook_name: str | None) -> str:
    sid = f"report-{report.name}"
    basis = "".join(f'<p class="basis">{esc(p.strip())}</p>' for p in report.basis.split("\n\n") if p.strip())
    return "\n".join([
        f'<section id="{sid}" aria-labelledby="{sid}-h"><h2 id="{sid}-h">{esc(report.title)}</h2>',
        basis,
        f'<p class="meta">{_rows_note(report, csv_name, workbook_name)}</p>',
        _column_docs(report),
        _table(report),
        "</section>",
    ])


def _rows_note(report: ReportTable, csv_name: str | None, workbook_name: str | None) -> str:
    n = report.num_rows
    if n == 0:
        return "No rows in this report for the period."
    where = [f"<code>{esc(csv_name)}</code>"] if csv_name else []
    if workbook_name and n <= xlsx.MAX_DATA_ROWS:
        where.append(f"<code>{esc(workbook_name)}</code>")
    hidden = len(report.table.column_names) - len(_shown_columns(report))
    parts = [f"{n:,} rows" if n <= MAX_HTML_ROWS else f"{n:,} rows; the first {MAX_HTML_ROWS:,} are shown"]
    if hidden:
        parts.append(f"{hidden} more column(s) are not shown here")
    if where and (n > MAX_HTML_ROWS or hidden):
        parts.append(f"everything is in {' and '.join(where)}")
    return "; ".join(parts) + "."


def _column_docs(report: ReportTable) -> str:
    entries = "".join(
        f"<dt>{esc(f.name)}</dt><dd>{esc(report.description(f.name) or '(no description)')} "
        f'<span class="meta">[{esc(type_label(f.type))}]</span></dd>'
        for f in report.table.schema)
    return f'<details><summary>Columns</summary><dl class="columns">{entries}</dl></details>'


def _shown_columns(report: ReportTable) -> list[str]:
    return list(report.html_columns) or report.table.column_names


def _head_text(name: str) -> str:
    # A break opportunity after each underscore keeps long column names from widening the table.
    return "_<wbr>".join(esc(part) for part in name.split("_"))


def _unit(name: str, hint: str | None) -> str:
    if hint == "percent":
        return ""  # the values carry their % sign
    return next((unit for suffix, unit in UNITS if name.endswith(suffix)), "")


def _table(report: ReportTable) -> str:
    table = report.table.select(_shown_columns(report))
    if report.html_sort and table.num_rows > 1:
        table = table.sort_by(list(report.html_sort))
    schema = table.schema
    kinds = [kind_of(f.type) for f in schema]
    hints = [report.hint(f.name) for f in schema]
    ids = [f.name in ID_COLUMNS for f in schema]
    head = "".join(_head_cell(report, f.name, k, h) for f, k, h in zip(schema, kinds, hints))
    body = []
    for values in iter_rows(table, MAX_HTML_ROWS):
        cells = "".join(_id_cell(v) if i and isinstance(v, str) else _cell(v, k, h)
                        for v, k, h, i in zip(values, kinds, hints, ids))
        body.append(f"<tr>{cells}</tr>")
    return (f'<div class="scroll"><table class="report" aria-labelledby="report-{report.name}-h">'
            f'<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _head_cell(report: ReportTable, name: str, kind: Kind, hint: str | None) -> str:
    cls = ' class="num"' if kind.numeric else ""
    unit = _unit(name, hint)
    unit_html = f'<span class="unit">{esc(unit)}</span>' if unit else ""
    return f'<th scope="col"{cls} title="{esc(report.description(name))}">{_head_text(name)}{unit_html}</th>'


def _id_cell(value: str) -> str:
    text = esc(human_text(value))
    return f'<td class="id" title="{text}">{text}</td>'


def _cell(value: object, kind: Kind, hint: str | None) -> str:
    if value is None:
        return '<td class="null"></td>'
    if kind.numeric and isinstance(value, (int, float, Decimal)):
        raw = repr(float(value)) if not isinstance(value, int) else str(value)
        return f'<td class="num" data-v="{esc(raw)}">{esc(format_number(value, kind, hint))}</td>'
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, datetime):
        text = value.date().isoformat() if hint == "date" else human_datetime(value)
        return f'<td data-v="{esc(value.isoformat())}">{esc(text)}</td>'
    if isinstance(value, (date, time, timedelta)):
        return f"<td>{esc(str(value) if isinstance(value, timedelta) else value.isoformat())}</td>"
    text = human_text(value)
    if len(text) > MAX_CELL_TEXT:
        text = text[:MAX_CELL_TEXT - 1] + "\u2026"
    # short text stays on one line (a name, a mode); sentences and lists wrap
    return f'<td class="wrap">{esc(text)}</td>' if len(text) > 32 else f"<td>{esc(text)}</td>"


def format_number(value: int | float | Decimal, kind: Kind, hint: str | None) -> str:
    """A number as a reader expects it: grouped thousands, fixed decimals, percentages for ratios.

    Rounding is half away from zero, as Excel displays the same cell (2.25 -> "2.3", not Python's "2.2").
    """
    if kind is Kind.INT and hint in (None, "int") and isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if hint == "percent":
        return f"{_round(exact * 100, 1):,}%"
    if hint == "hours":
        return f"{_round(exact, 1):,}"
    if hint in ("float", "currency") or (hint is None and kind is not Kind.INT):
        return f"{_round(exact, 2):,}"
    return f"{_round(exact, 0):,}"


def _round(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _footer(with_csv: bool) -> str:
    text = ("Generated by poolscope. Node counts are provisioned nodes as the ModelArts API reports them, "
            f"not job usage. Tables show at most the first {MAX_HTML_ROWS:,} rows of each report.")
    if with_csv:
        text += (" In the CSV files, a text value that begins with = + - @, tab or carriage return is written "
                 "with a leading apostrophe so that spreadsheet programs never run it as a formula.")
    return f"<footer>{esc(text)}</footer>"
