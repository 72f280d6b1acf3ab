"""A large lake written straight to Parquet (no API, no normalize): 90 days of hourly snapshots in about a
minute instead of the hours the fetch path would take. Shared by the query and history benchmarks and the
report tests.

The Delta tables and the catalog are the real ones (pipeline/lake/delta.py's commits, build_catalog):
`make_fleet_lake` commits each snapshot on its own (one file per snapshot and table), exactly what hourly
snapshots leave before compaction; `make_compacted_fleet_lake` commits a day at a time (one file per table and
day, what the daily compaction leaves), a month at a time, so that a year of 2,000 pools fits in memory.
"""

from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.catalog.docs import table_docs
from pipeline.catalog.views import build_catalog
from pipeline.lake.layout import Layout
from pipeline.lake.store import _commit_record

START = datetime(2026, 8, 1, tzinfo=timezone.utc)

TABLES = {
    "snapshots": """
        SELECT snapshot_id, snapshot_at, NULL::VARCHAR AS region, NULL::VARCHAR AS project_id,
               'complete' AS status, snapshot_at AS started_at, snapshot_at AS finished_at,
               {projects}::INTEGER AS targets FROM {snaps}""",
    "fetches": """
        SELECT s.snapshot_id, s.snapshot_at, p.region, p.project_id, NULL::VARCHAR AS pool_id,
               'list_pools' AS call, 'https://modelarts.' || p.region || '.myhuaweicloud.com' AS endpoint,
               NULL::VARCHAR AS workspace_id,
               NULL::VARCHAR AS label_selector, NULL::VARCHAR AS status_filter,
               CASE WHEN f.s IS NULL THEN 'ok' ELSE 'error' END AS outcome,
               CASE WHEN f.s IS NULL THEN 200 ELSE 500 END::INTEGER AS http_status,
               CASE WHEN f.s IS NOT NULL THEN 'ModelArts.50005000' END AS error_code,
               1::INTEGER AS attempts
        FROM {snaps} AS s CROSS JOIN projs AS p
        LEFT JOIN failed AS f ON f.s = s.s AND f.j = p.j""",
    "pools": """
        SELECT snapshot_id, snapshot_at, region, project_id, pool_id, pool_id AS display_name,
               '0' AS workspace_id, false AS workspace_id_assumed,
               CASE WHEN logical THEN 'Logical' ELSE 'Dedicate' END AS pool_type,
               'Running' AS phase, parent, coalesce(parent, pool_id) AS root, parent IS NULL AS is_physical,
               TIMESTAMPTZ '2026-07-01 00:00:00+00' + to_hours(born) AS created_at,
               CASE billing_code WHEN '0' THEN 'pay_per_use' WHEN '1' THEN 'yearly_monthly'
                                 ELSE 'unknown' END AS billing_mode,
               CASE WHEN billing_code = '1' THEN CASE period_code WHEN '2' THEN 'month' WHEN '3' THEN 'year'
                                                 ELSE 'month' END END AS period_type,
               CASE WHEN billing_code = '1' THEN 1 + i % 3 END::INTEGER AS period_num,
               CASE WHEN billing_code = '1' THEN i % 2 = 0 END AS auto_renew,
               CASE WHEN billing_code = '1' THEN 'order-' || i END AS order_id,
               'list_pools' AS source
        FROM obs""",
    "pool_resources": """
        SELECT snapshot_id, snapshot_at, region, project_id, pool_id, flavor1 AS flavor,
               (2 + i % 7)::INTEGER AS count, (2 + i % 7)::INTEGER AS max_count FROM obs
        UNION ALL
        SELECT snapshot_id, snapshot_at, region, project_id, pool_id, flavor2 AS flavor,
               (1 + i % 3)::INTEGER AS count, (1 + i % 3)::INTEGER AS max_count FROM obs
        WHERE flavor2 IS NOT NULL""",
    "pool_capacity": """
        SELECT snapshot_id, snapshot_at, region, project_id, pool_id, state, flavor, count,
               NULL::INTEGER AS max_count, NULL::VARCHAR AS node_pool
        FROM (
            SELECT *, 'available' AS state, flavor1 AS flavor,
                   (1 + (i + s // 24) % 7)::INTEGER AS count FROM obs
            UNION ALL
            SELECT *, 'abnormal' AS state, flavor1 AS flavor, 1::INTEGER AS count FROM obs
            WHERE hash(i, s, 'abn') % 20 = 0
            UNION ALL
            SELECT *, 'creating' AS state, flavor1 AS flavor, 1::INTEGER AS count FROM obs
            WHERE hash(i, s, 'cre') % 50 = 0
            UNION ALL
            SELECT *, 'available' AS state, flavor2 AS flavor, (1 + i % 3)::INTEGER AS count FROM obs
            WHERE flavor2 IS NOT NULL
        )""",
    "flavors": """
        SELECT s.snapshot_id, s.snapshot_at, r.region, r.project_id, 'modelarts.vm.flavor-' || f AS flavor,
               'Dedicate' AS flavor_type, 'x86' AS cpu_arch, 8.0 AS cpu_cores, 32.0 AS memory_gib,
               CASE WHEN f < 4 THEN 'gpu' WHEN f < 6 THEN 'npu' END AS accelerator,
               CASE WHEN f < 4 THEN 'nvidia-t4' WHEN f < 6 THEN 'ascend-snt9b' END AS accelerator_type,
               CASE WHEN f < 6 THEN 8 END::INTEGER AS accelerator_cards
        FROM (SELECT * FROM {snaps} WHERE s % 24 = 0) AS s
        CROSS JOIN (SELECT region, min(project_id) AS project_id FROM projs GROUP BY region) AS r
        CROSS JOIN range(7) AS x(f)""",  # flavor-7 is never in the catalog: unknown
}


def _define(con: duckdb.DuckDBPyConnection, *, snaps: int, pools: int, projects: int, regions: int,
            step_minutes: int, fail_per_mille: int) -> None:
    """The tables every generated row comes from: snaps, projs, pool_defs, failed."""
    con.execute(f"""
        CREATE TABLE snaps AS
        SELECT s, TIMESTAMPTZ '{START.isoformat()}' + to_minutes(s * {step_minutes}) AS snapshot_at,
               strftime(TIMESTAMP '{START.replace(tzinfo=None).isoformat()}' + to_minutes(s * {step_minutes}),
                        '%Y%m%dT%H%M%SZ') AS snapshot_id
        FROM range({snaps}) AS r(s);
        CREATE TABLE projs AS
        SELECT j, md5('project' || j) AS project_id, 'region-' || (j % {regions}) AS region
        FROM range({projects}) AS r(j);
        CREATE TABLE pool_defs AS
        SELECT i, i % {projects} AS j, 'pool-' || lpad(i::VARCHAR, 6, '0') || '-' || md5('pool' || i) AS pool_id,
               (i // {projects}) % 10 = 9 AS logical,
               CASE WHEN (i // {projects}) % 10 = 9
                    THEN 'pool-' || lpad((i - {projects})::VARCHAR, 6, '0') || '-' || md5('pool' || (i - {projects})) END
                   AS parent,
               CASE WHEN i % 20 = 7 THEN (hash(i, 'born') % {snaps})::BIGINT ELSE 0 END AS born,
               CASE WHEN i % 20 = 11 THEN ({snaps} // 2 + hash(i, 'dies') % ({snaps} // 2))::BIGINT ELSE {snaps} END AS dies,
               CASE i % 3 WHEN 0 THEN '1' WHEN 1 THEN '0' ELSE NULL END AS billing_code,
               CASE WHEN i % 6 = 0 THEN '2' WHEN i % 6 = 3 THEN '3' END AS period_code,
               'modelarts.vm.flavor-' || (i % 8) AS flavor1,
               CASE WHEN i % 5 = 0 THEN 'modelarts.vm.flavor-' || ((i + 3) % 8) END AS flavor2
        FROM range({pools}) AS r(i);
        CREATE TABLE failed AS
        SELECT s, j FROM snaps, projs WHERE hash(s, j, 'fail') % 1000 < {fail_per_mille};
    """)


def _observe(con: duckdb.DuckDBPyConnection, snaps: str) -> None:
    """obs: every (snapshot of `snaps`, pool) row that exists (born, not dead, its listing not failed)."""
    con.execute(f"""
        CREATE OR REPLACE TABLE obs AS
        SELECT s.s, s.snapshot_at, s.snapshot_id, p.region, p.project_id, d.*
        FROM {snaps} AS s
        JOIN pool_defs AS d ON s.s >= d.born AND s.s < d.dies
        JOIN projs AS p ON p.j = d.j
        WHERE NOT EXISTS (SELECT 1 FROM failed AS f WHERE f.s = s.s AND f.j = d.j);
    """)


def _connect(threads: int | None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    if threads:
        con.execute(f"SET threads = {threads}")
    return con


def _at(snapshot_id: str) -> datetime:
    return datetime.strptime(snapshot_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


WRITE_ID = "bench"


def _with_record(rows: pa.Table) -> pa.Table:
    """The snapshots rows as a commit leaves them (the commit record column; pipeline/lake/store.py)."""
    records = [_commit_record(f"lake/raw/snapshot_id={sid}/{WRITE_ID}", {}, {}, "")
               for sid in rows["snapshot_id"].to_pylist()]
    return rows.append_column("commit_record", pa.array(records, pa.string()))


def _commit_snapshots(lake, con: duckdb.DuckDBPyConnection, selects: dict[str, str], ids: list[str]) -> None:
    """Commit each snapshot of `ids` on its own: one file per table and snapshot."""
    for sid in ids:
        tables = {t: con.sql(f"SELECT * FROM ({q}) WHERE snapshot_id = '{sid}'").to_arrow_table()
                  for t, q in selects.items()}
        lake.commit_snapshot(sid, WRITE_ID, {t: r for t, r in tables.items() if t != "snapshots"},
                             _with_record(tables["snapshots"]))


def _commit_days(lake, con: duckdb.DuckDBPyConnection, selects: dict[str, str], days: list[str]) -> None:
    """Commit each day's snapshots at once: one file per table and day."""
    for day in days:
        where = f"strftime(timezone('UTC', snapshot_at), '%Y-%m-%d') = '{day}'"
        tables = {t: con.sql(f"SELECT *, '{WRITE_ID}' AS write_id FROM ({q}) WHERE {where} ORDER BY snapshot_id")
                  .to_arrow_table() for t, q in selects.items()}
        lake.commit_day(day, {t: r for t, r in tables.items() if t != "snapshots"}, _with_record(tables["snapshots"]))


def make_fleet_lake(root: Path, *, days: int, pools: int, projects: int = 40, regions: int = 4,
                    step_minutes: int = 60, fail_per_mille: int = 10, threads: int | None = None) -> dict:
    """Write a lake of `days` x (24h / step) snapshots of `pools` pools. Returns a summary dict.

    Pool i lives in project i % projects (region = project % regions). Pools whose (i // projects) % 10 == 9
    are Logical sub-pools of pool i - projects (same project, physical). 1 in 20 pools is created a while
    into the range, 1 in 20 is deleted before the end. A project's listing fails at a snapshot with
    probability fail_per_mille / 1000 (then none of its pools has a row there)."""
    layout = Layout(root)
    layout.ensure()
    snaps = days * 24 * 60 // step_minutes
    con = _connect(threads)
    _define(con, snaps=snaps, pools=pools, projects=projects, regions=regions, step_minutes=step_minutes,
            fail_per_mille=fail_per_mille)
    _observe(con, "snaps")
    selects = {}
    for table, sql in TABLES.items():
        con.execute(f"CREATE TABLE staged_{table} AS {sql.format(projects=projects, snaps='snaps')}")
        selects[table] = f"SELECT * FROM staged_{table}"
    counts = dict(con.execute("SELECT 'pools', count(*) FROM obs UNION ALL SELECT 'snapshots', count(*) FROM snaps"
                              ).fetchall())
    ids = [r[0] for r in con.execute("SELECT snapshot_id FROM snaps ORDER BY s").fetchall()]
    _commit_snapshots(layout.tables(), con, selects, ids)
    con.close()
    build_catalog(layout, table_docs())
    return counts


def make_compacted_fleet_lake(root: Path, *, days: int, pools: int, projects: int = 40, regions: int = 4,
                              fail_per_mille: int = 10, own_files_days: tuple[int, ...] = (),
                              chunk_days: int = 30, threads: int | None = None,
                              on_chunk=None, lake=None) -> dict:
    """The lake of `make_fleet_lake` (hourly snapshots) as the daily compaction leaves it: days 0, 1, ... are
    read from one file per table and day, except the days in `own_files_days`, whose snapshots keep one file
    per table, as the day still receiving snapshots does. Generated `chunk_days` at a time. Every snapshot has
    its snapshots row. No catalog is built (a year of snapshots
    makes it slow and the history does not need it); call build_catalog if wanted. `lake`: the Delta tables to
    write (default: the root's own, on its disk; e.g. a DeltaLake in a bucket)."""
    layout = Layout(root)
    layout.ensure()
    snaps = days * 24
    con = _connect(threads)
    _define(con, snaps=snaps, pools=pools, projects=projects, regions=regions, step_minutes=60,
            fail_per_mille=fail_per_mille)
    counts = {"pools": 0, "snapshots": snaps}
    for first in range(0, days, chunk_days):
        last = min(days, first + chunk_days)
        con.execute(f"CREATE OR REPLACE VIEW chunk AS SELECT * FROM snaps WHERE s >= {first * 24} AND s < {last * 24}")
        _observe(con, "chunk")
        counts["pools"] += con.execute("SELECT count(*) FROM obs").fetchall()[0][0]
        selects = {}
        for table, sql in TABLES.items():
            con.execute(f"CREATE OR REPLACE TABLE staged_{table} AS {sql.format(projects=projects, snaps='chunk')}")
            selects[table] = f"SELECT * FROM staged_{table}"
        chunk = con.execute("SELECT snapshot_id, s // 24 FROM chunk ORDER BY s").fetchall()
        own = {d for d in own_files_days if first <= d < last}
        target = lake if lake is not None else layout.tables()
        _commit_days(target, con, selects, sorted({_at(sid).strftime("%Y-%m-%d") for sid, d in chunk if d not in own}))
        _commit_snapshots(target, con, selects, [sid for sid, d in chunk if d in own])
        if on_chunk:
            on_chunk(last, days)
    con.close()
    return counts
