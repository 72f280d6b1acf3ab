"""One snapshot folded into the history: its changes and ended versions, and the next state.

`fold_snapshot(sources, snapshot_id, snapshot_at, state, out_dir)` reads one snapshot's rows (`sources`: table ->
a SELECT over that snapshot's files) and the history state as of the snapshot before it (a Parquet file with the
columns of sql/history/_state.sql), and writes to `out_dir`:
    pool_changes.parquet   the snapshot's pool_changes rows
    pool_versions.parquet  the versions it ends (closed rows of pool_versions)
    state.parquet          the state after it
It reads nothing else, so its cost depends on the fleet, not on how many snapshots the lake holds.

The rules are the full recomputation's (pipeline/history/full.py): the same SQL builds the content (_rows.sql,
_entries.sql) and decides what a snapshot observes (_fetches.sql, _show_gone.sql); the `_fold_*.sql`
steps compare that with the state. tests/history/test_history_incremental.py checks, snapshot after snapshot, that
the result equals the full recomputation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import duckdb

from pipeline.history.full import INPUTS, PARQUET_OPTIONS, sql_text
from pipeline.sqlfiles import quote_ident, quote_literal

log = logging.getLogger(__name__)

# (temp table, SQL file), in order. The first five are the full recomputation's own steps, here on one snapshot.
STEPS: tuple[tuple[str, str], ...] = (
    ("_h_fetches", "_fetches"),
    ("_h_show_gone", "_show_gone"),
    ("_h_steps", "_fold_steps"),
    ("_h_rows", "_rows"),
    ("_h_entries", "_entries"),
    ("_f_now", "_fold_now"),
    ("_f_obs", "_fold_obs"),
    ("_f_diffs", "_fold_diffs"),
)
OUTPUTS: dict[str, str] = {"pool_changes": "_fold_changes", "pool_versions": "_fold_versions",
                           "state": "_fold_state"}




def _input_views(con: duckdb.DuckDBPyConnection, sources: Mapping[str, str]) -> None:
    """A view per input table over the snapshot's rows; a table the snapshot has no file for reads as empty, a
    column its file lacks (written by an older version) as NULL, as in the full recomputation."""
    for table, columns in INPUTS.items():
        select = sources.get(table)
        if select is None:
            cols = ", ".join(f"NULL::{t} AS {quote_ident(c)}" for c, t in columns.items())
            con.execute(f"CREATE TEMP VIEW {quote_ident(table)} AS SELECT {cols} WHERE false")
            continue
        con.execute(f"CREATE TEMP TABLE {quote_ident('_src_' + table)} AS {select}")
        have = {r[0] for r in con.execute(f"DESCRIBE {quote_ident('_src_' + table)}").fetchall()}
        fill = [f"NULL::{t} AS {quote_ident(c)}" for c, t in columns.items() if c not in have]
        extra = (", " + ", ".join(fill)) if fill else ""
        con.execute(f"CREATE TEMP VIEW {quote_ident(table)} AS SELECT *{extra} FROM {quote_ident('_src_' + table)}")


def fold_snapshot(sources: Mapping[str, str], snapshot_id: str, snapshot_at: datetime, state: Path,
                  out_dir: Path) -> dict[str, int]:
    """Fold one snapshot into the state; write its rows and the next state to `out_dir`. Returns rows per file."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET enable_progress_bar = false")
        _input_views(con, sources)
        con.execute(sql_text("_macros"))
        con.execute("CREATE TEMP TABLE _f_snap AS SELECT $id::VARCHAR AS snapshot_id, "
                    "$at::TIMESTAMPTZ AS snapshot_at", {"id": snapshot_id, "at": snapshot_at})
        con.execute(f"CREATE TEMP TABLE _f_state AS SELECT * FROM read_parquet({quote_literal(str(state))})")
        for table, name in STEPS:
            con.execute(f"CREATE TEMP TABLE {table} AS {sql_text(name)}")
        rows: dict[str, int] = {}
        for out, name in OUTPUTS.items():
            dest = quote_literal(str(out_dir / f"{out}.parquet"))
            row = con.execute(f"COPY ({sql_text(name)}\n) TO {dest} ({PARQUET_OPTIONS})").fetchone()
            rows[out] = int(row[0]) if row else 0
        rows["open_versions"] = int(con.execute(
            f"SELECT count(*) FROM read_parquet({quote_literal(str(out_dir / 'state.parquet'))}) "
            "WHERE gone_snapshot_id IS NULL").fetchall()[0][0])
    finally:
        con.close()
    log.debug("history: folded %s in %.2fs: %s", snapshot_id, time.perf_counter() - started, rows)
    return rows
