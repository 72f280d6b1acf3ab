"""Reports: the SQL in sql/reports/<name>.sql run over the catalog, written as Parquet (and handed to exports).

Each report is one SELECT with the parameters $from_day, $to_day (DATE, inclusive UTC days), $period_hours (the
schedule period) and, for subscriptions, $as_of. The SELECTs use the TEMP MACROs of sql/reports/_macros.sql
(the integration rule lives there, once) and a table `prices`, which this module registers on the connection:
the optional price file, or an empty table of the same shape, so a report has the same columns either way.

Everything here only reads: it works on `duckdb.connect(str(catalog), read_only=True)` (where every documented
table has its view, even before it has rows). Temp macros and the registered `prices` relation live in the
connection's temp catalog. So do the gate's views: with `exclude` (the snapshots the
report gate leaves out, pipeline/reports/days.py `gate`), each table a report reads is shadowed by a temp view of
the same name without those snapshots' rows, so every report, whatever its SQL, reads the lake as if they had
never been taken. A price file with a header and no rows counts as no price file: the cost columns are NULL.
"""

import csv
import math
from dataclasses import dataclass
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.sqlfiles import quote_ident, quote_literal, sql_text

REPORTS = ("capacity_utilization", "billing_modes", "subscriptions", "idle_capacity", "pressure")
PRICE_COLUMNS = ("flavor", "billing_mode", "price_per_node_hour", "currency")
PRICE_BILLING_MODES = ("pay_per_use", "yearly_monthly")
PRICES_SCHEMA = pa.schema([
    ("flavor", pa.string()),
    ("billing_mode", pa.string()),
    ("price_per_node_hour", pa.float64()),
    ("currency", pa.string()),
])
SQL_FOLDER = "reports"
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


@dataclass(frozen=True)
class IdleRule:
    """When idle_capacity calls accelerators idle (config reports.idle_threshold_percent, reports.idle_days)."""

    threshold_percent: float = 10.0
    days: int = 3

    @classmethod
    def of(cls, reports) -> "IdleRule":
        return cls(float(reports.idle_threshold_percent), int(reports.idle_days))


def report_sql(name: str) -> str:
    if name not in REPORTS:
        raise ValueError(f"unknown report {name!r}; known: {', '.join(REPORTS)}")
    return sql_text(SQL_FOLDER, name)


def load_prices(path: Path) -> pa.Table:
    """Read and validate a price file: CSV with the header flavor,billing_mode,price_per_node_hour,currency.

    Any problem raises ValueError naming the file, the line and the column. One currency per file (the
    estimated costs of a report are summed, and sums across currencies mean nothing).
    """
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ValueError(f"price file {where}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"price file {where}: not UTF-8 text ({exc.reason})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ValueError(f"price file {where}, line 1: empty; expected the header {','.join(PRICE_COLUMNS)}")
    header = [cell.strip() for cell in rows[0]]
    unknown = [c for c in header if c not in PRICE_COLUMNS]
    if unknown:
        raise ValueError(f"price file {where}, line 1, column {unknown[0]!r}: unknown column; "
                         f"expected exactly {','.join(PRICE_COLUMNS)}")
    missing = [c for c in PRICE_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"price file {where}, line 1, column {missing[0]!r}: missing; "
                         f"expected exactly {','.join(PRICE_COLUMNS)}")
    duplicated = [c for c in header if header.count(c) > 1]
    if duplicated:
        raise ValueError(f"price file {where}, line 1, column {duplicated[0]!r}: appears twice")
    out: dict[str, list] = {c: [] for c in PRICE_COLUMNS}
    seen: dict[tuple[str, str], int] = {}
    currencies: dict[str, int] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) != len(header):
            raise ValueError(f"price file {where}, line {lineno}: {len(row)} fields, expected {len(header)}")
        rec = {c: row[i].strip() for i, c in enumerate(header)}
        if not rec["flavor"]:
            raise ValueError(f"price file {where}, line {lineno}, column 'flavor': empty")
        if rec["billing_mode"] not in PRICE_BILLING_MODES:
            raise ValueError(f"price file {where}, line {lineno}, column 'billing_mode': {rec['billing_mode']!r} "
                             f"is not one of {', '.join(PRICE_BILLING_MODES)}")
        try:
            price = float(rec["price_per_node_hour"])
        except ValueError:
            price = math.nan
        if not math.isfinite(price) or price < 0:
            raise ValueError(f"price file {where}, line {lineno}, column 'price_per_node_hour': "
                             f"{rec['price_per_node_hour']!r} is not a non-negative number")
        if not rec["currency"]:
            raise ValueError(f"price file {where}, line {lineno}, column 'currency': empty")
        key = (rec["flavor"], rec["billing_mode"])
        if key in seen:
            raise ValueError(f"price file {where}, line {lineno}, column 'flavor': {key[0]} / {key[1]} already "
                             f"priced on line {seen[key]}")
        seen[key] = lineno
        currencies.setdefault(rec["currency"], lineno)
        if len(currencies) > 1:
            first = next(iter(currencies))
            raise ValueError(f"price file {where}, line {lineno}, column 'currency': {rec['currency']!r} differs "
                             f"from {first!r} (line {currencies[first]}); one currency per price file")
        out["flavor"].append(rec["flavor"])
        out["billing_mode"].append(rec["billing_mode"])
        out["price_per_node_hour"].append(price)
        out["currency"].append(rec["currency"])
    return pa.table(out, schema=PRICES_SCHEMA)


# The tables the gate filters: a temp view of each, without the excluded snapshots' rows, shadows the catalog's
# (every documented view exists in a catalog, even before its table has rows: pipeline/catalog/views.py).
GATED_TABLES = ("snapshots", "fetches", "pools", "pool_resources", "pool_capacity", "flavors")


def _prepare(con: duckdb.DuckDBPyConnection, prices: Path | pa.Table | None,
             exclude: Iterable[str] = ()) -> list[str]:
    """Register `prices`, create the macros and the gate's views (leaving out the rows of the snapshots in
    `exclude`). Returns the temp views created."""
    table = prices if isinstance(prices, pa.Table) else (
        load_prices(prices) if prices is not None else PRICES_SCHEMA.empty_table())
    created = []
    excluded = sorted(set(exclude))
    if excluded:
        database = con.execute("SELECT current_database()").fetchall()[0][0]
        ids = ", ".join(quote_literal(sid) for sid in excluded)
        for name in GATED_TABLES:
            # A temp view shadows the catalog's view of the same name (temp comes first in the search path).
            con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM "
                        f"{quote_ident(database)}.main.{name} WHERE snapshot_id NOT IN ({ids})")
            created.append(name)
    con.register("prices", table)
    # A report query can run for seconds: DuckDB would draw its progress bar on the caller's stdout.
    con.execute("SET enable_progress_bar = false")
    con.execute(sql_text(SQL_FOLDER, "_macros"))
    return created


def _cache_capacity(con: duckdb.DuckDBPyConnection, from_day: date, to_day: date, period_hours: float,
                    idle: "IdleRule") -> None:
    """capacity_utilization's rows of [from_day - (idle days - 1), to_day], computed once into a temp table and
    read through the table macro capacity_rows(from_day, to_day, period_hours): the reports built on those rows
    (idle_capacity, whose streaks look back idle days; pressure) read the same numbers without repeating the
    integration (the costliest query of the reports)."""
    lo = from_day - timedelta(days=max(idle.days, 1) - 1)
    sql = report_sql("capacity_utilization")
    con.execute(f"CREATE OR REPLACE TEMP TABLE capacity_cache AS {sql}",
                _params(sql, lo, to_day, period_hours, None, idle) | {"from_day": lo})
    con.execute("CREATE OR REPLACE TEMP MACRO capacity_rows(from_day, to_day, period_hours) AS TABLE "
                "SELECT * FROM capacity_cache WHERE day BETWEEN from_day::DATE AND to_day::DATE")


def _uses_capacity(name: str) -> bool:
    return "capacity_rows(" in re.sub(r"--[^\n]*", "", report_sql(name))


def _cleanup(con: duckdb.DuckDBPyConnection, temp_views: list[str]) -> None:
    con.execute("DROP TABLE IF EXISTS temp.capacity_cache")
    con.unregister("prices")
    for name in temp_views:
        con.execute(f"DROP VIEW IF EXISTS temp.{name}")


def _params(sql: str, from_day: date, to_day: date, period_hours: float, as_of: datetime | None,
            idle: IdleRule = IdleRule()) -> dict:
    if not (isinstance(period_hours, (int, float)) and math.isfinite(period_hours) and period_hours > 0):
        raise ValueError(f"period_hours must be a positive number of hours, got {period_hours!r}")
    if to_day < from_day:
        raise ValueError(f"to_day {to_day} is before from_day {from_day}")
    if as_of is not None and as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    values = {
        "from_day": from_day,
        "to_day": to_day,
        "period_hours": float(period_hours),
        "as_of": as_of.astimezone(timezone.utc) if as_of is not None else None,
        "idle_threshold": float(idle.threshold_percent),
        "idle_days": int(idle.days),
    }
    used = set(_PARAM.findall(re.sub(r"--[^\n]*", "", sql)))
    return {k: v for k, v in values.items() if k in used}


def report_arrow(con: duckdb.DuckDBPyConnection, name: str, from_day: date, to_day: date, *,
                 period_hours: float = 1.0, prices: Path | pa.Table | None = None,
                 as_of: datetime | None = None, exclude: Iterable[str] = (), idle: IdleRule = IdleRule()
                 ) -> pa.Table:
    """Run one report and return it as an Arrow table (for the exports), without the snapshots in `exclude`."""
    sql = report_sql(name)
    params = _params(sql, from_day, to_day, period_hours, as_of, idle)
    temp_views = _prepare(con, prices, exclude)
    try:
        if _uses_capacity(name):
            _cache_capacity(con, from_day, to_day, period_hours, idle)
        return con.sql(sql, params=params).to_arrow_table()
    finally:
        _cleanup(con, temp_views)


def build_reports(con: duckdb.DuckDBPyConnection, out_dir: Path, from_day: date, to_day: date, *,
                  period_hours: float = 1.0, prices: Path | None = None,
                  as_of: datetime | None = None, exclude: Iterable[str] = (), idle: IdleRule = IdleRule()
                  ) -> dict[str, int]:
    """Write every report to out_dir/<report>.parquet (zstd), without the snapshots in `exclude`. Returns the
    row count of each."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = load_prices(prices) if prices is not None else None  # validate before any work
    rows: dict[str, int] = {}
    temp_views = _prepare(con, table, exclude)
    try:
        if any(_uses_capacity(name) for name in REPORTS):
            _cache_capacity(con, from_day, to_day, period_hours, idle)
        for name in REPORTS:
            sql = report_sql(name)
            params = _params(sql, from_day, to_day, period_hours, as_of, idle)
            final = out_dir / f"{name}.parquet"
            tmp = out_dir / f".{name}.parquet.tmp"
            try:
                result = con.execute(f"COPY ({sql}) TO {quote_literal(tmp)} (FORMAT parquet, COMPRESSION zstd)",
                                     params).fetchall()
                tmp.replace(final)
            finally:
                tmp.unlink(missing_ok=True)
            rows[name] = int(result[0][0]) if result else 0
    finally:
        _cleanup(con, temp_views)
    return rows


def coverage_rows(con: duckdb.DuckDBPyConnection, from_day: date, to_day: date, *, period_hours: float = 1.0,
                  exclude: Iterable[str] = ()) -> list[dict]:
    """What the period is missing, from sql/reports/_coverage.sql (see its header): the period's snapshot count,
    then each target a used snapshot could not read. The snapshots in `exclude` are left to the caller."""
    sql = sql_text(SQL_FOLDER, "_coverage")
    params = _params(sql, from_day, to_day, period_hours, None)
    params["excluded"] = sorted(set(exclude))
    return _dict_rows(con, sql, params, ())


def headline_rows(con: duckdb.DuckDBPyConnection, from_day: date, to_day: date, *,
                  exclude: Iterable[str] = ()) -> list[dict]:
    """Nodes and cards of the physical pools by billing mode and state (sql/reports/_headline.sql), through the
    gate: at the last snapshot the reports use in the period, and at the end of the previous period (the last
    snapshot before from_day; the period's first one when the lake begins inside the period)."""
    used = "NOT list_contains($ex, snapshot_id)"
    before, first_in, last = con.execute(
        f"SELECT max(snapshot_id) FILTER (WHERE snapshot_day < $from AND {used}), "
        f"min(snapshot_id) FILTER (WHERE snapshot_day >= $from AND {used}), "
        f"max(snapshot_id) FILTER (WHERE snapshot_day >= $from AND {used}) "
        "FROM snapshots WHERE snapshot_day <= $to",
        {"from": from_day, "to": to_day, "ex": sorted(set(exclude))}).fetchall()[0]
    if last is None:
        return []
    first = before or first_in
    sql = sql_text(SQL_FOLDER, "_headline")
    params = {"first_id": first, "last_id": last, "first_day": _day_of_id(first), "last_day": _day_of_id(last),
              "to_day": to_day}
    return _dict_rows(con, sql, params, exclude)


def _day_of_id(snapshot_id: str) -> date:
    # snapshot ids are UTC times, 20261101T120000Z: their first 8 characters are the snapshot's day
    return datetime.strptime(snapshot_id[:8], "%Y%m%d").date()


def _dict_rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict, exclude: Iterable[str]) -> list[dict]:
    temp_views = _prepare(con, None, exclude)
    try:
        cur = con.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        _cleanup(con, temp_views)
