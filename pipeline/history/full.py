"""Pool history: `pool_changes` and `pool_versions`, recomputed over every snapshot in the catalog (the full
recomputation: the reference for the incremental history of history_store.py / history_fold.py, which reuse
its steps, and what `rebuild_history` runs).

`build_history(con, out_dir)` runs on a connection where the catalog's views exist (for instance
`duckdb.connect(str(layout.catalog), read_only=True)`), writes `out_dir/pool_changes.parquet` and
`out_dir/pool_versions.parquet` (zstd) and returns table -> row count.

All the work is set-based SQL in `sql/history/` (each file documents its columns at the top); this module only
orchestrates, on a cursor of the given connection (so its TEMP tables never touch the caller's session):

0. `_macros.sql`: `h_pool_fields(row)`, the pools columns of a pool's content as a list of {k, v}.
1. `_observations.sql` -> `_h_obs`: one narrow row per pool per snapshot with a content hash (the one full pass
   over the pool tables: an order-independent sum of per-row hashes, grouped by snapshot and pool).
2. `_keys.sql` -> `_h_keys` (pool key -> region, project_id, pool_id; checked for hash collisions),
   `_fetches.sql` -> `_h_fetches` (fetches read once), `_snaps.sql` -> `_h_snaps` (the snapshots in order),
   `_show_gone.sql` -> `_h_show_gone` (ShowPool 404s: the only evidence of a deletion).
3. `_seq.sql` -> `_h_seq`: one window pass (`lag`/`lead` per pool) keeps the rows that matter: new hash,
   first or last presence, a gap before or after; `_steps.sql` -> `_h_steps`: ASOF joins, on the gap rows only,
   find the first absence after a presence (a deletion) and so the re-creations.
4. `_rows.sql`, `_entries.sql` -> the pools row and the field map of each candidate start (the second and last
   pass over the pool tables, keeping only those observations' rows); `_diffs.sql` compares each candidate
   update with the start before it, field by field.
5. `_starts.sql`, `_versions.sql` -> version starts with their content, then the versions (SCD 2).
6. `pool_changes.sql`, `pool_versions.sql` -> `COPY ... TO out_dir/<table>.parquet`.
`build_history_base` runs the same steps and writes what an incremental history starts from: every change, the
closed versions, and the state (`_state.sql`: each pool's last observation and open version).

What counts as an observation of absence is decided in one place for both paths: `_show_gone.sql` (ShowPool
404 ModelArts.50015001, the confirmations); `_steps.sql`, `pool_changes.sql`, `_state.sql` and the incremental
`_fold_obs.sql` all read it.

The inputs are read by name (`pools`, `pool_labels`, ..., `fetches`, `rejected_documents`) from the connection's
database: views or tables, not TEMP objects or registered Arrow/pandas objects of `con` (the cursor cannot see
those). Input views that do not exist (an empty catalog) or lack a column (lakes written by older versions) are
stood in for by TEMP views with the missing parts as NULL, so an empty history gives empty tables with their
schema.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import duckdb

from pipeline.sqlfiles import quote_ident, quote_literal, statement

log = logging.getLogger(__name__)

SQL_FOLDER = "history"
TABLES: tuple[str, ...] = ("pool_changes", "pool_versions")
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION zstd"

# The columns of `pools` that make up a pool's content (every column but snapshot_id, snapshot_at,
# snapshot_day, source, response_id, the key region/project_id/pool_id, and workspace_id_assumed, which the
# content's labels already hold: the workspace label is there or not). Spelled out in _observations.sql,
# _rows.sql, _entries.sql and pool_versions.sql; tests/history/test_history.py checks this list against the pools
# table's documented columns, so a new pools column cannot be silently left out of the history.
CONTENT_COLUMNS: dict[str, str] = {
    "display_name": "VARCHAR", "workspace_id": "VARCHAR", "resource_id": "VARCHAR", "pool_type": "VARCHAR",
    "phase": "VARCHAR", "message": "VARCHAR", "parent": "VARCHAR", "root": "VARCHAR", "is_physical": "BOOLEAN",
    "created_at": "TIMESTAMPTZ", "description": "VARCHAR", "billing_mode": "VARCHAR", "period_type": "VARCHAR",
    "period_num": "INTEGER", "auto_renew": "BOOLEAN", "order_id": "VARCHAR", "subpools_count": "INTEGER",
    "control_mode": "INTEGER", "cm_to_yearly_monthly_restricted": "BOOLEAN",
    "cm_flavor_change_restricted": "BOOLEAN", "cm_service_restricted": "BOOLEAN", "cm_frozen": "BOOLEAN",
    "cm_police_frozen": "BOOLEAN", "network_name": "VARCHAR", "container_network_mode": "VARCHAR",
    "gpu_driver_version": "VARCHAR", "npu_driver_version": "VARCHAR", "driver_update_strategy": "VARCHAR",
    "gpu_driver_state": "VARCHAR", "npu_driver_state": "VARCHAR",
}

_KEY = {"snapshot_id": "VARCHAR", "snapshot_at": "TIMESTAMPTZ", "region": "VARCHAR", "project_id": "VARCHAR"}
_POOL_KEY = {**_KEY, "pool_id": "VARCHAR"}

# The inputs this module reads: view -> the columns it needs, with their types.
INPUTS: dict[str, dict[str, str]] = {
    "pools": {**_POOL_KEY, **CONTENT_COLUMNS},
    "pool_labels": {**_POOL_KEY, "key": "VARCHAR", "value": "VARCHAR"},
    "pool_annotations": {**_POOL_KEY, "key": "VARCHAR", "value": "VARCHAR"},
    "pool_scopes": {**_POOL_KEY, "scope_type": "VARCHAR", "requested": "BOOLEAN", "state": "VARCHAR"},
    "pool_resources": {**_POOL_KEY, "flavor": "VARCHAR", "count": "INTEGER", "max_count": "INTEGER"},
    "pool_resource_azs": {**_POOL_KEY, "flavor": "VARCHAR", "az": "VARCHAR", "count": "INTEGER"},
    "pool_capacity": {**_POOL_KEY, "state": "VARCHAR", "flavor": "VARCHAR", "count": "INTEGER",
                      "max_count": "INTEGER"},
    "pool_capacity_azs": {**_POOL_KEY, "state": "VARCHAR", "flavor": "VARCHAR", "az": "VARCHAR",
                          "count": "INTEGER"},
    "pool_job_flavors": {**_POOL_KEY, "job_flavor": "VARCHAR"},
    "fetches": {**_KEY, "pool_id": "VARCHAR", "call": "VARCHAR", "endpoint": "VARCHAR", "workspace_id": "VARCHAR",
                "label_selector": "VARCHAR", "status_filter": "VARCHAR", "outcome": "VARCHAR",
                "http_status": "INTEGER", "error_code": "VARCHAR"},
    "rejected_documents": {**_KEY, "source": "VARCHAR", "reason": "VARCHAR", "severity": "VARCHAR"},
}

# (temp table, SQL file), in order.
STEPS: tuple[tuple[str, str], ...] = (
    ("_h_obs", "_observations"),
    ("_h_keys", "_keys"),
    ("_h_fetches", "_fetches"),
    ("_h_snaps", "_snaps"),
    ("_h_show_gone", "_show_gone"),
    ("_h_seq", "_seq"),
    ("_h_steps", "_steps"),
    ("_h_rows", "_rows"),
    ("_h_entries", "_entries"),
    ("_h_diffs", "_diffs"),
    ("_h_starts", "_starts"),
    ("_h_versions", "_versions"),
)


def sql_text(name: str) -> str:
    """The statement in sql/history/<name>.sql, without a trailing semicolon."""
    return statement(SQL_FOLDER, name)



def _stand_ins(cur: duckdb.DuckDBPyConnection) -> None:
    """TEMP views for inputs whose files predate a column (a lake written by an older poolscope): the missing
    columns read as NULL. A missing table is no case here: every documented view exists, even empty
    (pipeline/catalog/views.py)."""
    database = cur.execute("SELECT current_database()").fetchone()[0]
    present: dict[str, set[str]] = {}
    for table, column in cur.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = 'main'"
    ).fetchall():
        present.setdefault(table, set()).add(column)
    for table, columns in INPUTS.items():
        have = present.get(table, set())
        missing = [c for c in columns if c not in have]
        if not missing:
            continue
        fill = ", ".join(f"NULL::{columns[c]} AS {quote_ident(c)}" for c in missing)
        cur.execute(
            f"CREATE TEMP VIEW {quote_ident(table)} AS "
            f"SELECT *, {fill} FROM {quote_ident(database)}.main.{quote_ident(table)}"
        )
        log.info("history: %s has no column %s; reading it as NULL", table, ", ".join(missing))


def _check_keys(cur: duckdb.DuckDBPyConnection) -> None:
    """Every step keys pools by hash(region, project_id, pool_id): make sure no two pools share one."""
    row = cur.execute("SELECT count(*) FROM (SELECT pkey FROM _h_keys GROUP BY pkey HAVING count(*) > 1)").fetchone()
    if row and row[0]:
        raise RuntimeError(f"history: {row[0]} pool key hash collision(s); cannot build the history")


def _run_steps(cur: duckdb.DuckDBPyConnection) -> None:
    """Stand-ins, macros and every TEMP table step, on the given cursor."""
    _stand_ins(cur)
    cur.execute(sql_text("_macros"))
    for table, name in STEPS:
        started = time.perf_counter()
        cur.execute(f"CREATE TEMP TABLE {table} AS {sql_text(name)}")
        log.debug("history: %s in %.2fs", table, time.perf_counter() - started)
        if table == "_h_keys":
            _check_keys(cur)


def _copy(cur: duckdb.DuckDBPyConnection, select: str, dest: Path) -> int:
    row = cur.execute(f"COPY ({select}\n) TO {quote_literal(dest)} ({PARQUET_OPTIONS})").fetchone()
    return int(row[0]) if row else 0



def build_history(con: duckdb.DuckDBPyConnection, out_dir: Path) -> dict[str, int]:
    """Recompute pool_changes and pool_versions from every snapshot visible on `con`; write them to
    `out_dir/<table>.parquet`; return table -> rows. The reference for the incremental history."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started_all = time.perf_counter()
    cur = con.cursor()  # own session: TEMP tables and stand-in views vanish with it
    try:
        _run_steps(cur)
        counts = {table: _copy(cur, sql_text(table), out_dir / f"{table}.parquet") for table in TABLES}
        log.info("history: %s in %.1fs", counts, time.perf_counter() - started_all)
        return counts
    finally:
        cur.close()


def build_history_base(con: duckdb.DuckDBPyConnection, out_dir: Path) -> dict[str, int]:
    """The full recomputation as the start of an incremental history: `out_dir/pool_changes.parquet` (every
    change), `out_dir/pool_versions.parquet` (the closed versions only) and `out_dir/state.parquet` (each pool's
    last observation and open version, _state.sql). Returns rows per file, and `open_versions`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started_all = time.perf_counter()
    cur = con.cursor()
    try:
        _run_steps(cur)
        closed = f"SELECT * FROM ({sql_text('pool_versions')}\n) WHERE ended_by IS NOT NULL"
        counts = {
            "pool_changes": _copy(cur, sql_text("pool_changes"), out_dir / "pool_changes.parquet"),
            "pool_versions": _copy(cur, closed, out_dir / "pool_versions.parquet"),
            "state": _copy(cur, sql_text("_state"), out_dir / "state.parquet"),
        }
        counts["open_versions"] = int(cur.execute(
            "SELECT count(*) FROM _h_versions WHERE ended_by IS NULL").fetchall()[0][0])
        log.info("history rebuilt: %s in %.1fs", counts, time.perf_counter() - started_all)
        return counts
    finally:
        cur.close()
