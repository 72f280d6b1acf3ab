"""Inline SVG charts drawn in Python: the HTML export must open offline, where no chart library exists.

Two shapes cover the reports: vertical stacked bars (a quantity per day, split by state or billing mode)
and horizontal bars (one bar per item, e.g. days until a subscription expires). Every piece of text is
escaped, every chart carries an accessible name (`role="img"` + `<title>`/`<desc>`), and every bar has a
native `<title>` tooltip with the exact number, so the picture never has to be trusted to the pixel.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

from .values import clean_text, truncate, truncate_middle

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'DejaVu Sans', sans-serif"
# Average glyph width at 12px in the fonts above, for laying out text we cannot measure.
CHAR_PX = 6.8
INK = "#222222"
MUTED = "#5F6B7A"
GRID = "#DDE3EA"
# Okabe-Ito: distinguishable with the common colour-vision deficiencies and in greyscale print order.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#8C6D31", "#000000")
OTHER_COLOR = "#9AA5B1"


def esc(text: object) -> str:
    return html.escape(clean_text(str(text)), quote=True)


def fmt_number(value: float) -> str:
    """Compact, exact-enough number text for axes and tooltips (1,234 / 12.5 / 0.25)."""
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) >= 10 else f"{value:,.3g}"


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Round axis ticks (steps of 1, 2, 2.5 or 5 times a power of ten) spanning [low, high]."""
    if high <= low:
        high = low + 1
    raw = (high - low) / target
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value < high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


@dataclass
class Series:
    name: str
    values: list[float]
    color: str


def _svg_open(chart_id: str, width: int, height: int, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart_id}" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" font-family="{esc(FONT)}" font-size="12">',
        f'<title id="{chart_id}-t">{esc(title)}</title>',
        f'<desc id="{chart_id}-d">{esc(desc)}</desc>',
        f'<rect width="{width}" height="{height}" fill="#FFFFFF"/>',
    ]


def _legend(items: list[tuple[str, str]], x0: float, y0: float, max_x: float) -> tuple[list[str], float]:
    """Legend swatches laid out left to right, wrapping; returns the SVG and the y below the legend."""
    out, x, y = [], x0, y0
    for name, color in items:
        label = truncate(name, 28)
        w = 18 + len(label) * CHAR_PX + 14
        if x + w > max_x and x > x0:
            x, y = x0, y + 18
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="12" height="12" rx="2" fill="{color}">'
                   f'<title>{esc(name)}</title></rect>')
        out.append(f'<text x="{x + 17:.1f}" y="{y + 10:.1f}" fill="{INK}">{esc(label)}</text>')
        x += w
    return out, y + 18


def stacked_bars(chart_id: str, *, title: str, desc: str, categories: list[str], series: list[Series],
                 unit: str, heading: str = "", width: int = 760, height: int = 300) -> str:
    """Vertical bars, one per category (a day), stacked bottom-up in `series` order.

    `heading` is drawn above the legend, for small multiples where each chart needs a visible name.
    """
    head = []
    top = 8.0
    if heading:
        head = [f'<text x="16" y="22" font-size="14" font-weight="bold" fill="{INK}">'
                f'{esc(truncate(heading, int((width - 32) / 8)))}</text>']
        top = 34.0
    legend, top = _legend([(s.name, s.color) for s in series], 64, top, width - 16)
    left, right, bottom = 64, width - 16, height - 40
    top += 8
    totals = [sum(max(s.values[i], 0) for s in series) for i in range(len(categories))]
    ticks = nice_ticks(0, max(totals, default=0) or 1)
    y_max = ticks[-1]

    def y_of(v: float) -> float:
        return bottom - (bottom - top) * v / y_max

    out = _svg_open(chart_id, width, height, title, desc) + head + legend
    out += _y_axis(ticks, y_of, left, right, unit)
    band = (right - left) / max(len(categories), 1)
    bar = max(band * 0.8, 1.0)
    for i, category in enumerate(categories):
        x = left + band * i + (band - bar) / 2
        base = 0.0
        for s in series:
            v = s.values[i]
            if v <= 0:
                continue
            y1, y0 = y_of(base + v), y_of(base)
            out.append(f'<rect x="{x:.2f}" y="{y1:.2f}" width="{bar:.2f}" height="{max(y0 - y1, 0.5):.2f}" '
                       f'fill="{s.color}"><title>{esc(category)} · {esc(s.name)}: {esc(fmt_number(v))} '
                       f'{esc(unit)}</title></rect>')
            base += v
    out += _x_labels(categories, left, band, bottom)
    out.append("</svg>")
    return "\n".join(out)


def _y_axis(ticks: list[float], y_of, left: float, right: float, unit: str) -> list[str]:
    out = []
    for t in ticks:
        y = y_of(t)
        out.append(f'<line x1="{left}" x2="{right}" y1="{y:.2f}" y2="{y:.2f}" stroke="{GRID}"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.2f}" text-anchor="end" fill="{MUTED}">'
                   f'{esc(fmt_number(t))}</text>')
    mid = (y_of(ticks[0]) + y_of(ticks[-1])) / 2
    out.append(f'<text transform="translate(14 {mid:.1f}) rotate(-90)" text-anchor="middle" '
               f'fill="{MUTED}">{esc(truncate(unit, 24))}</text>')
    return out


def _x_labels(categories: list[str], left: float, band: float, bottom: float) -> list[str]:
    """Category labels under the bars, thinned so that they never overlap."""
    if not categories:
        return []
    longest = max(len(truncate(c, 12)) for c in categories) * CHAR_PX + 10
    every = max(1, math.ceil(longest / band))
    out = [f'<line x1="{left}" x2="{left + band * len(categories):.2f}" y1="{bottom}" y2="{bottom}" '
           f'stroke="{MUTED}"/>']
    for i in range(0, len(categories), every):
        x = left + band * (i + 0.5)
        out.append(f'<text x="{x:.2f}" y="{bottom + 16}" text-anchor="middle" fill="{MUTED}">'
                   f'{esc(truncate(categories[i], 12))}</text>')
    return out


@dataclass
class Bar:
    label: str
    value: float
    color: str
    tooltip: str
    value_text: str


def horizontal_bars(chart_id: str, *, title: str, desc: str, bars: list[Bar], unit: str,
                    legend: list[tuple[str, str]], width: int = 760) -> str:
    """One labelled bar per row, from zero to the value (leftwards for negative values)."""
    legend_svg, top = _legend(legend, 16, 8, width - 16)
    label_w = 230
    left, right = 16 + label_w, width - 70
    row_h = 22
    top += 16  # room for the tick labels above the first bar
    bottom = top + row_h * len(bars)
    height = int(bottom + 30)
    values = [b.value for b in bars]
    ticks = nice_ticks(min(0, *values) if values else 0, max(0, *values) if values else 1)
    lo, hi = ticks[0], ticks[-1]

    def x_of(v: float) -> float:
        return left + (right - left) * (v - lo) / (hi - lo)

    out = _svg_open(chart_id, width, height, title, desc) + legend_svg
    for t in ticks:
        x = x_of(t)
        out.append(f'<line x1="{x:.2f}" x2="{x:.2f}" y1="{top - 4}" y2="{bottom}" stroke="{GRID}"/>')
        out.append(f'<text x="{x:.2f}" y="{top - 8}" text-anchor="middle" fill="{MUTED}">'
                   f'{esc(fmt_number(t))}</text>')
    zero = x_of(0)
    for i, b in enumerate(bars):
        y = top + row_h * i
        x0, x1 = sorted((zero, x_of(b.value)))
        out.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" fill="{INK}">'
                   f'<title>{esc(b.label)}</title>{esc(truncate_middle(b.label, 32))}</text>')
        out.append(f'<rect x="{x0:.2f}" y="{y + 4}" width="{max(x1 - x0, 1.5):.2f}" height="{row_h - 8}" '
                   f'rx="2" fill="{b.color}"><title>{esc(b.tooltip)}</title></rect>')
        # Negative values are labelled right of the zero line: left of the bar is the name column.
        tx = x1 + 4 if b.value >= 0 else zero + 4
        out.append(f'<text x="{tx:.2f}" y="{y + 15}" fill="{INK}">'
                   f'{esc(b.value_text)}</text>')
    out.append(f'<line x1="{zero:.2f}" x2="{zero:.2f}" y1="{top - 4}" y2="{bottom}" stroke="{MUTED}"/>')
    out.append(f'<text x="{(left + right) / 2:.1f}" y="{bottom + 22}" text-anchor="middle" fill="{MUTED}">'
               f'{esc(unit)}</text>')
    out.append("</svg>")
    return "\n".join(out)
