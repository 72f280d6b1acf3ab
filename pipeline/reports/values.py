"""Arrow columns to Python cell values, batch by batch, and the text forms shared by the exports.

Every writer asks the same two questions of a column: what kind of value is it (number, date, ...), and
how does a value read as text. Answering them once here keeps XLSX, CSV and HTML consistent.
"""

from __future__ import annotations

import enum
import json
import math
import unicodedata
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pt

# Rows per Arrow batch turned into Python objects at a time: large enough to amortise the conversion,
# small enough that a multi-million-row report never sits in memory as Python objects.
BATCH_ROWS = 8192


class Kind(enum.Enum):
    INT = "int"
    FLOAT = "float"
    DECIMAL = "decimal"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    TIME = "time"
    DURATION = "duration"
    TEXT = "text"
    BINARY = "binary"
    NESTED = "nested"
    NULL = "null"

    @property
    def numeric(self) -> bool:
        return self in (Kind.INT, Kind.FLOAT, Kind.DECIMAL)


def kind_of(t: pa.DataType) -> Kind:
    if isinstance(t, pa.ExtensionType):
        return kind_of(t.storage_type)
    if pt.is_dictionary(t):
        return kind_of(t.value_type)
    checks = (
        (pt.is_boolean, Kind.BOOL), (pt.is_integer, Kind.INT), (pt.is_floating, Kind.FLOAT),
        (pt.is_decimal, Kind.DECIMAL), (pt.is_date, Kind.DATE), (pt.is_timestamp, Kind.DATETIME),
        (pt.is_time, Kind.TIME), (pt.is_duration, Kind.DURATION), (pt.is_null, Kind.NULL),
        (lambda x: pt.is_string(x) or pt.is_large_string(x) or pt.is_string_view(x), Kind.TEXT),
        (lambda x: pt.is_binary(x) or pt.is_large_binary(x) or pt.is_fixed_size_binary(x)
         or pt.is_binary_view(x), Kind.BINARY),
    )
    for check, kind in checks:
        if check(t):
            return kind
    # Lists, structs, maps, unions: shown as text, never dropped.
    return Kind.NESTED


def is_tz_aware(t: pa.DataType) -> bool:
    return pt.is_timestamp(t) and t.tz is not None


def _pythonable(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A column whose to_pylist() gives plain datetime objects.

    Nanosecond values have no Python datetime equivalent (pyarrow would need pandas), so they are
    truncated to microseconds, which no report here resolves anyway. Zoned timestamps are re-labelled as
    UTC (the same instants) so every export shows one zone and no tz database lookup is needed.
    """
    t = column.type
    if pt.is_timestamp(t) and (t.unit == "ns" or (t.tz is not None and t.tz != "UTC")):
        return pc.cast(column, pa.timestamp("us" if t.unit == "ns" else t.unit, tz="UTC" if t.tz else None),
                       safe=False)
    if (pt.is_duration(t) or pt.is_time64(t)) and t.unit == "ns":
        target = pa.duration("us") if pt.is_duration(t) else pa.time64("us")
        return pc.cast(column, target, safe=False)
    return column


def iter_rows(table: pa.Table, limit: int | None = None) -> Iterator[tuple]:
    """Rows as tuples of Python values (None for NULL), converted one batch at a time."""
    if limit is not None:
        table = table.slice(0, limit)
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        columns = [_pythonable(col).to_pylist() for col in batch.columns]
        yield from zip(*columns) if columns else ()


# ---- text forms ---------------------------------------------------------------------------------------

def clean_text(s: str) -> str:
    """Drop C0/C1 control characters (except tab and newlines): they are invalid in XML and garble HTML."""
    if s.isprintable():
        return s
    return "".join(ch if ch.isprintable() or ch in "\t\n\r" else "\ufffd" for ch in s)


def human_datetime(value: datetime) -> str:
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + (" UTC" if value.tzinfo is not None else "")


def human_text(value: object) -> str:
    """How a value reads for a person: lists joined with commas, structs as `key: value` pairs."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return human_datetime(value)
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, pa.MonthDayNano):
        return _human_interval(value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {human_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        # Maps arrive as lists of (key, value) pairs.
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return "; ".join(f"{human_text(k)}: {human_text(v)}" for k, v in value)
        return ", ".join(human_text(v) for v in value)
    return clean_text(str(value))


def machine_text(value: object) -> str:
    """How a value reads for a program: ISO 8601 dates and times, JSON for nested values, '' for NULL."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, timedelta):
        return _iso_duration(value)
    if isinstance(value, pa.MonthDayNano):
        return _iso_interval(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=_json_default, separators=(",", ":"))
    return clean_text(str(value))


def _float_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _iso_duration(value: timedelta) -> str:
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    seconds = value.seconds + value.microseconds / 1e6
    return f"{sign}P{value.days}DT{seconds:g}S"


def _iso_interval(value: pa.MonthDayNano) -> str:
    """DuckDB INTERVAL (months, days, nanoseconds) as ISO 8601; the parts stay separate, as in SQL."""
    return f"P{value.months}M{value.days}DT{value.nanoseconds / 1e9:g}S"


def _human_interval(value: pa.MonthDayNano) -> str:
    parts = [f"{value.months} months" if value.months else "", f"{value.days} days" if value.days else ""]
    if value.nanoseconds or not any(parts):
        parts.append(str(timedelta(microseconds=value.nanoseconds // 1000)))
    return ", ".join(p for p in parts if p)


def _json_default(value: object) -> object:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return _iso_duration(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


# ---- width and truncation (for column widths and chart labels) ----------------------------------------

def char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(s: str) -> int:
    """Approximate rendered width in 'average Latin character' units: CJK counts double, marks count zero."""
    if s.isascii():
        return len(s)
    return sum(char_width(ch) for ch in s)


def truncate(s: str, max_width: int) -> str:
    """`s` cut to at most `max_width` units, ending in an ellipsis when cut."""
    if display_width(s) <= max_width:
        return s
    out, used = [], 0
    for ch in s:
        w = char_width(ch)
        if used + w > max_width - 1:
            break
        out.append(ch)
        used += w
    # Zero-width combining marks always fit, so a kept letter keeps its accents.
    return "".join(out).rstrip() + "…"


def truncate_middle(s: str, max_width: int) -> str:
    """`s` cut in the middle: names that share a long prefix ("training-pool-…-03") stay distinguishable."""
    if display_width(s) <= max_width:
        return s
    tail_budget = (max_width - 1) // 3
    tail, used = [], 0
    for ch in reversed(s):
        w = char_width(ch)
        if used + w > tail_budget:
            break
        tail.append(ch)
        used += w
    tail_text = "".join(reversed(tail)).lstrip()
    # A tail starting with a combining mark would attach it to the ellipsis.
    while tail_text and unicodedata.combining(tail_text[0]):
        tail_text = tail_text[1:]
    head = truncate(s, max_width - display_width(tail_text))
    return head + tail_text


_KIND_LABELS = {
    Kind.INT: "integer", Kind.FLOAT: "number", Kind.DECIMAL: "decimal number", Kind.BOOL: "true/false",
    Kind.DATE: "date", Kind.DATETIME: "date and time", Kind.TIME: "time of day", Kind.DURATION: "duration",
    Kind.TEXT: "text", Kind.BINARY: "bytes (hex)", Kind.NESTED: "structured value", Kind.NULL: "always empty",
}


def type_label(t: pa.DataType) -> str:
    """A column type in words a spreadsheet reader understands ("date and time (UTC)", "list of text")."""
    if pt.is_list(t) or pt.is_large_list(t) or pt.is_fixed_size_list(t):
        return f"list of {type_label(t.value_type)}"
    if pt.is_interval(t):
        return "interval"
    label = _KIND_LABELS[kind_of(t)]
    return f"{label} (UTC)" if is_tz_aware(t) else label
