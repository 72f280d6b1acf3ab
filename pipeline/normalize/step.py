"""Step normalize: a sealed raw set into table files in a fresh working folder, not visible yet: the pool
tables from the pool documents (pipeline/normalize/documents.py), and the run-level tables fetches, snapshots
and flavors from the call log. Every step after landing reads only the sealed raw set, which is why
`renormalize` rebuilds any snapshot from its landing with the very same code."""

import json
import mmap
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.land.step import read_run
from pipeline.lake.layout import Layout, new_write_id, snapshot_at_of
from pipeline.lake.lease import discard, work_dir
from pipeline.normalize.documents import BodyRef, normalize, rejected_count
from pipeline.sqlfiles import has_sql, quote_literal, sql_text

POOL_SOURCES = ("list_pools", "show_pool")


@dataclass
class Staged:
    """Normalized tables of one raw set, written but not yet committed."""

    snapshot_id: str
    write_id: str
    raw_dir: Path
    out_dir: Path
    rows: dict[str, int]
    status: str
    targets: int
    targets_ok: int
    targets_failed: int
    errors_by_code: dict[str, int] = field(default_factory=dict)
    rejected: int = 0  # documents that could not be used (rejected_documents errors; warnings are not counted)
    # The pace of the fetch (run.json `rates`, table snapshots): 429s met, auto or fixed, the rate settled on
    # (summed over endpoints), and per endpoint.
    throttled: int | None = None
    rate_mode: str | None = None
    settled_rps: float | None = None
    rates: list[dict] = field(default_factory=list)

    @property
    def files(self) -> dict[str, Path]:
        return {p.stem: p for p in self.out_dir.glob("*.parquet")}


def raw_bodies(raw_dir: Path, snapshot_id: str) -> list[BodyRef]:
    """The pool bodies of a sealed raw set (the final attempt of each ok listing or show), for normalize."""
    snapshot_at = snapshot_at_of(snapshot_id)
    bodies = []
    with open(raw_dir / "calls.jsonl", encoding="utf-8") as fh:
        for line in fh:
            call = json.loads(line)
            if call["call"] in POOL_SOURCES and call["outcome"] == "ok" and call.get("body_file"):
                t = call["target"]
                bodies.append(BodyRef(
                    snapshot_id=snapshot_id, snapshot_at=snapshot_at, region=t["region"],
                    project_id=t["project_id"], source=call["call"], path=str(raw_dir / call["body_file"]),
                    response_id=call["call_id"], repeated_keys=call.get("repeated_keys", False),
                ))
    return bodies


def _run_tables(layout: Layout, raw_dir: Path, out_dir: Path, snapshot_id: str, pools: int,
                rejected: int) -> tuple[dict[str, int], dict]:
    """`fetches` and `snapshots` from the raw set's call log; returns row counts and the snapshot summary."""
    run = read_run(raw_dir)
    snapshot_at = snapshot_at_of(snapshot_id)
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")  # stdout is the caller's
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE TEMP TABLE fetches_rows AS " + sql_text("normalize", "fetches"), {
            "snapshot_id": snapshot_id, "snapshot_at": snapshot_at, "calls": str(raw_dir / "calls.jsonl"),
            "raw_dir": str(raw_dir.relative_to(layout.root)),
        })
        con.execute(f"COPY fetches_rows TO {quote_literal(out_dir / 'fetches.parquet')} (FORMAT parquet, COMPRESSION zstd)")
        fetches = con.execute("SELECT count(*) FROM fetches_rows").fetchone()[0]
        # The query string of each call (not a fetches column): a table may need what was asked, e.g. the period
        # of ShowPoolMonitor points, which its answer does not repeat.
        con.execute("CREATE TEMP TABLE call_queries AS SELECT call_id, query FROM read_json($calls, "
                    "format = 'newline_delimited', columns = {call_id: 'VARCHAR', query: 'VARCHAR'})",
                    {"calls": str(raw_dir / "calls.jsonl")})
        con.execute(f"CREATE TEMP TABLE {FAMILY_REJECTED} (region VARCHAR, project_id VARCHAR, pool_id VARCHAR, "
                    "call VARCHAR, page BIGINT, response_id VARCHAR, item_index INTEGER, reason VARCHAR, "
                    "severity VARCHAR, item VARCHAR, excerpt VARCHAR)")
        flavors = _flavors(con, layout, out_dir, snapshot_id, snapshot_at)
        virtual_flavors = _virtual_flavors(con, layout, out_dir, snapshot_id, snapshot_at)
        projects = _projects(con, layout, out_dir, snapshot_id, snapshot_at)
        runtime = _runtime(con, layout, out_dir, snapshot_id, snapshot_at)
        runtime.update(_monitor(con, layout, out_dir, snapshot_id, snapshot_at))
        nodes = _nodes(con, layout, out_dir, snapshot_id, snapshot_at)
        workloads = _workload_statistics(con, layout, out_dir, snapshot_id, snapshot_at)
        events = _events(con, layout, out_dir, snapshot_id, snapshot_at)
        rejected += _append_rejected(con, out_dir, snapshot_id, snapshot_at)
        con.execute("CREATE TEMP TABLE snapshot_row AS " + sql_text("normalize", "snapshots"), {
            "snapshot_id": snapshot_id, "snapshot_at": snapshot_at, "pools": pools, "rejected": rejected,
            "started_at": run.get("started_at"), "finished_at": run.get("sealed_at"),
            "rates": json.dumps(run["rates"]) if isinstance(run.get("rates"), list) else None,
            "region": run.get("region") if isinstance(run.get("region"), str) else None,
        })
        con.execute(f"COPY snapshot_row TO {quote_literal(out_dir / 'snapshots.parquet')} (FORMAT parquet, COMPRESSION zstd)")
        status, targets, ok, failed, throttled, rate_mode, settled = con.execute(
            "SELECT status, targets, targets_ok, targets_failed, throttled_attempts, rate_mode, settled_rps "
            "FROM snapshot_row").fetchone()
        codes = con.execute(
            "SELECT coalesce(error_code, reason, 'http_' || http_status, 'no_response') AS code, count(*) "
            "FROM fetches_rows WHERE outcome <> 'ok' "
            # a ShowPool's 404 ModelArts.50015001 is an answer (the pool is gone), not an error
            "AND NOT (call = 'show_pool' AND http_status = 404 AND error_code IS NOT DISTINCT FROM 'ModelArts.50015001') "
            "GROUP BY ALL ORDER BY 2 DESC, 1").fetchall()
    finally:
        con.close()
    summary = {"status": status, "targets": targets, "targets_ok": ok, "targets_failed": failed,
               "errors_by_code": dict(codes), "rejected": rejected, "throttled": throttled, "rate_mode": rate_mode,
               "settled_rps": settled, "rates": run.get("rates") if isinstance(run.get("rates"), list) else []}
    return {"fetches": int(fetches), "snapshots": 1, "flavors": flavors, "virtual_flavors": virtual_flavors,
            "projects": projects, **runtime, **nodes,
            **workloads, **events}, summary


def _flavors(con: duckdb.DuckDBPyConnection, layout: Layout, out_dir: Path, snapshot_id: str,
             snapshot_at: datetime) -> int:
    """The flavor catalog from the landed resourceflavors pages (see sql/normalize/flavors.sql)."""
    con.execute(sql_text("normalize", "_macros"))  # k8s_quantity (data disk sizes)
    return _from_bodies(con, layout, out_dir, ("flavors",), "flavor_pages", ("list_resource_flavors",),
                        snapshot_id, snapshot_at)["flavors"]


def _virtual_flavors(con: duckdb.DuckDBPyConnection, layout: Layout, out_dir: Path, snapshot_id: str,
                     snapshot_at: datetime) -> int:
    """The virtual flavors of Logical pools from the landed virtualresourceflavors pages
    (see sql/normalize/virtual_flavors.sql)."""
    con.execute(sql_text("normalize", "_macros"))  # k8s_quantity
    return _from_bodies(con, layout, out_dir, ("virtual_flavors",), "virtual_flavor_pages",
                        ("list_virtual_resource_flavors",), snapshot_id, snapshot_at)["virtual_flavors"]


def _projects(con: duckdb.DuckDBPyConnection, layout: Layout, out_dir: Path, snapshot_id: str,
              snapshot_at: datetime) -> int:
    """Project names from the landed IAM project lists (see sql/normalize/projects.sql)."""
    return _from_bodies(con, layout, out_dir, ("projects",), "project_pages", ("list_projects", "project_names"),
                        snapshot_id, snapshot_at)["projects"]


RUNTIME_TABLES = ("pool_allocation", "pool_workload_counts")


def _runtime(con: duckdb.DuckDBPyConnection, layout: Layout, out_dir: Path, snapshot_id: str,
             snapshot_at: datetime) -> dict[str, int]:
    """Allocation and queues from the landed ShowPoolRuntimeMetrics answers (sql/normalize/pool_allocation.sql,
    pool_workload_counts.sql)."""
    con.execute(sql_text("normalize", "_macros"))  # k8s_quantity
    return _from_bodies(con, layout, out_dir, RUNTIME_TABLES, "runtime_pages", ("runtime_metrics",),
                        snapshot_id, snapshot_at)


NODE_TABLES = ("nodes", "node_resources")


def _nodes(con: duckdb.DuckDBPyConnection, layout: Layout, out_dir: Path, snapshot_id: str,
           snapshot_at: datetime) -> dict[str, int]:
    """Nodes and their resources from the landed ListPoolNodes pages (sql/normalize/nodes.sql,
    node_resources.sql)."""
    con.execute(sql_text("normalize", "_macros"))  # pool_text, pool_ts, pool_bool, k8s_quantity
    con.execute(sql_text("normalize", "_node_macros"))
    return _from_bodies(con, layout, out_dir, NODE_TABLES, "node_pages", ("pool_nodes",), snapshot_id, snapshot_at)


def _workload_statistics(con: duckdb.DuckDBPyConnection, layout: Layout, out_dir: Path, snapshot_id: str,
                         snapshot_at: datetime) -> dict[str, int]:
    """Workloads per type and status from the landed ShowWorkloadStatistics answers
    (sql/normalize/workload_statistics.sql)."""
    con.execute(sql_text("normalize", "_macros"))
    con.execute(sql_text("normalize", "_node_macros"))  # json_count
    return _from_bodies(con, layout, out_dir, ("workload_statistics",), "workload_pages", ("workload_statistics",),
                        snapshot_id, snapshot_at)


EVENT_TABLES = ("pool_events",)


def _events(con: duckdb.DuckDBPyConnection, layout: Layout, out_dir: Path, snapshot_id: str,
            snapshot_at: datetime) -> dict[str, int]:
    """Pool events from the landed ListEvents pages (sql/normalize/pool_events.sql)."""
    con.execute(sql_text("normalize", "_macros"))  # pool_int, pool_ts
    return _from_bodies(con, layout, out_dir, EVENT_TABLES, "event_pages", ("pool_events",),
                        snapshot_id, snapshot_at)


MONITOR_TABLES = ("pool_metrics",)


def _monitor(con: duckdb.DuckDBPyConnection, layout: Layout, out_dir: Path, snapshot_id: str,
             snapshot_at: datetime) -> dict[str, int]:
    """Measured utilization from the landed ShowPoolMonitor answers (sql/normalize/pool_metrics.sql)."""
    return _from_bodies(con, layout, out_dir, MONITOR_TABLES, "monitor_pages", ("pool_monitor",),
                        snapshot_id, snapshot_at)


def _from_bodies(con: duckdb.DuckDBPyConnection, layout: Layout, out_dir: Path, tables: tuple[str, ...],
                 pages_table: str, calls: tuple[str, ...], snapshot_id: str, snapshot_at: datetime) -> dict[str, int]:
    """Tables from the landed bodies of the ok `calls` of the run: they are loaded once as `pages_table`
    (region, project_id, pool_id = the pool a per-pool call asked about else NULL, call, page = call order,
    content, query = the call's query string as sent) for each sql/normalize/<table>.sql, whose rows go to
    <table>.parquet. Returns the rows of each table."""
    pages = con.execute(
        "SELECT f.region, f.project_id, f.pool_id, f.call, row_number() OVER (ORDER BY f.call_id) AS page, "
        "f.raw_file, f.raw_offset, f.raw_bytes, f.call_id, q.query "
        "FROM fetches_rows AS f LEFT JOIN call_queries AS q USING (call_id) "
        "WHERE list_contains($calls, f.call) AND f.outcome = 'ok' AND f.raw_file IS NOT NULL "
        "ORDER BY f.raw_file, f.raw_offset",
        {"calls": list(calls)}
    ).fetchall()
    con.execute(f"CREATE TEMP TABLE {pages_table} (region VARCHAR, project_id VARCHAR, pool_id VARCHAR, "
                "call VARCHAR, page BIGINT, content VARCHAR, response_id VARCHAR, query VARCHAR)")
    files = [p for p in pages if p[6] is None]
    if files:
        index = pa.Table.from_pylist([{"path": str(layout.root / raw), "region": region, "project_id": pid,
                                       "pool_id": pool, "call": call, "page": page, "response_id": call_id,
                                       "query": query}
                                      for region, pid, pool, call, page, raw, _, _, call_id, query in files])
        con.register("page_index", index)
        try:
            con.execute(
                f"INSERT INTO {pages_table} SELECT i.region, i.project_id, i.pool_id, i.call, i.page, "
                "t.content, i.response_id, i.query "
                "FROM read_text($files) AS t JOIN page_index AS i ON i.path = t.filename",
                {"files": sorted(set(index["path"].to_pylist()))},
            )
        finally:
            con.unregister("page_index")
    packed = [p for p in pages if p[6] is not None]
    for raw, group in groupby(packed, key=lambda p: p[5]):
        # A pack holds `<call_id> <body>` lines (pipeline/land/landing.py); the call log says where each body is,
        # so the bodies are cut out by offset, a pack at a time (no string of a whole pack is ever built).
        group = list(group)
        with open(layout.root / raw, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            bodies = pa.array([data[offset:offset + size] for *_, offset, size, _, _ in group], pa.binary())
        columns = list(zip(*[(region, pid, pool, call, page, call_id, query)
                             for region, pid, pool, call, page, _, _, _, call_id, query in group]))
        chunk = pa.table({"region": pa.array(columns[0], pa.string()), "project_id": pa.array(columns[1], pa.string()),
                          "pool_id": pa.array(columns[2], pa.string()), "call": pa.array(columns[3], pa.string()),
                          "page": pa.array(columns[4], pa.int64()), "content": bodies.cast(pa.string()),
                          "response_id": pa.array(columns[5], pa.string()), "query": pa.array(columns[6], pa.string())})
        con.register("pack_pages", chunk)
        try:
            con.execute(f"INSERT INTO {pages_table} SELECT * FROM pack_pages")
        finally:
            con.unregister("pack_pages")
    if has_sql("normalize", f"_prepare_{pages_table}"):
        con.execute(sql_text("normalize", f"_prepare_{pages_table}"))  # what several of the tables read
    if has_sql("normalize", f"_reject_{pages_table}"):
        # What the tables skip (an unreadable page, an element of the wrong shape), for rejected_documents: the
        # file gives (region, project_id, pool_id, call, page, reason) and, where it can, item_index, item (the
        # element's JSON: the excerpt, else the page's start) and severity (default error).
        con.execute(f"INSERT INTO {FAMILY_REJECTED} BY NAME "
                    f"SELECT * FROM ({sql_text('normalize', f'_reject_{pages_table}')})")
        con.execute(f"UPDATE {FAMILY_REJECTED} AS f SET response_id = p.response_id, "
                    "excerpt = left(coalesce(f.item, p.content), 200) "
                    f"FROM {pages_table} AS p WHERE f.response_id IS NULL AND p.region = f.region "
                    "AND p.project_id = f.project_id AND p.call = f.call AND p.page = f.page")
    rows = {}
    for table in tables:
        con.execute(f"CREATE TEMP TABLE {table}_rows AS " + sql_text("normalize", table),
                    {"snapshot_id": snapshot_id, "snapshot_at": snapshot_at})
        con.execute(f"COPY {table}_rows TO {quote_literal(out_dir / f'{table}.parquet')} "
                    "(FORMAT parquet, COMPRESSION zstd)")
        rows[table] = int(con.execute(f"SELECT count(*) FROM {table}_rows").fetchone()[0])
    return rows


FAMILY_REJECTED = "family_rejected"


def _append_rejected(con: duckdb.DuckDBPyConnection, out_dir: Path, snapshot_id: str, snapshot_at: datetime) -> int:
    """Add what the tables read from other calls' bodies (runtime metrics, monitor, nodes, ...) skipped to
    rejected_documents.parquet, beside the pool documents' rows; returns how many were errors (not used at all)."""
    n = int(con.execute(f"SELECT count(*) FROM {FAMILY_REJECTED}").fetchone()[0])
    if not n:
        return 0
    path = out_dir / "rejected_documents.parquet"
    tmp = out_dir / ".rejected_documents.parquet.tmp"
    con.execute(
        f"COPY (SELECT * FROM read_parquet({quote_literal(path)}) UNION ALL BY NAME "
        "SELECT $snapshot_id::VARCHAR AS snapshot_id, $snapshot_at::TIMESTAMPTZ AS snapshot_at, region, project_id, "
        "response_id, call AS source, item_index, pool_id, reason, coalesce(severity, 'error') AS severity, "
        "1 AS documents, excerpt, "
        f"NULL::VARCHAR AS kept_response_id, NULL::INTEGER AS kept_item_index FROM {FAMILY_REJECTED} "
        "ORDER BY ALL) "
        f"TO {quote_literal(tmp)} (FORMAT parquet, COMPRESSION zstd)",
        {"snapshot_id": snapshot_id, "snapshot_at": snapshot_at})
    tmp.replace(path)
    return int(con.execute(f"SELECT count(*) FROM {FAMILY_REJECTED} WHERE coalesce(severity, 'error') = 'error'")
               .fetchone()[0])


def stage(layout: Layout, raw_dir: Path, snapshot_id: str) -> Staged:
    """Normalize one sealed raw set into table files in a fresh temporary folder (not visible yet)."""
    write_id = new_write_id()
    layout.ensure()
    out_dir = work_dir(layout.tmp, f"tables-{snapshot_id}-{write_id}")
    try:
        rows = normalize(raw_bodies(raw_dir, snapshot_id), out_dir)
        rejected = rejected_count(out_dir)
        run_rows, summary = _run_tables(layout, raw_dir, out_dir, snapshot_id, rows.get("pools", 0), rejected)
    except BaseException:
        discard(out_dir)
        raise
    rows.update(run_rows)
    return Staged(snapshot_id=snapshot_id, write_id=write_id, raw_dir=raw_dir, out_dir=out_dir, rows=rows,
                  **summary)
