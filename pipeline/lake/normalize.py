"""Normalize landed ModelArts pool responses into Parquet tables, with DuckDB SQL.

`normalize(bodies, out_dir)` reads the landed response bodies named by `BodyRef`s and writes one Parquet file
per table into `out_dir` (`<table>.parquet`, zstd), every table even when empty, and returns table -> rows.

All the work is SQL in `sql/normalize/` (see the comment at the top of each file); this module only
orchestrates, in one in-memory DuckDB connection:

1. `_macros.sql`: lenient conversion macros (`pool_int`, `pool_bool`, `pool_ts`, `pool_text`).
2. TEMP TABLE `_bodies`: one row per `BodyRef` (context columns), from an Arrow table built here.
3. `_items.sql` -> TEMP TABLE `_items`: the body files read with `read_blob`, cut into candidate documents,
   each parsed once with a lenient STRUCT schema (`from_json`); unusable bodies and documents get a reason.
4. `_rows.sql` -> TEMP VIEW `_rows`: `_items` joined to the context, plus the bodies that were not read.
5. `_dups.sql` -> TEMP TABLE `_dups`: documents whose pool id was already seen in the snapshot and project.
6. `_docs.sql` -> TEMP VIEW `docs`: the usable documents, the input of every table file.
7. `<table>.sql` -> `COPY (...) TO out_dir/<table>.parquet`.

A body or document that cannot be used lands in `rejected_documents` with its reason; nothing in a body's
content can stop the run.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parents[2] / "sql" / "normalize"

# Output tables, in the order they are written. Names are public API (DESIGN.md "Tables").
TABLES: tuple[str, ...] = (
    "pools",
    "pool_labels",
    "pool_annotations",
    "pool_scopes",
    "pool_resources",
    "pool_resource_azs",
    "pool_capacity",
    "pool_capacity_azs",
    "pool_job_flavors",
    "rejected_documents",
)

SOURCES = ("list_pools", "show_pool")
READ_PARTITIONS = 8  # per source; must match the $list0..$list7 / $show0..$show7 parameters of _items.sql


@dataclass(frozen=True)
class BodyRef:
    """One landed response body (HTTP 200) to normalize."""

    snapshot_id: str  # sortable UTC text, e.g. "20261128T060000Z"
    snapshot_at: datetime  # tz-aware UTC
    region: str
    project_id: str
    source: str  # "list_pools" (a PoolList body) | "show_pool" (one Pool body)
    path: str  # absolute path of the landed body file, bytes exactly as received
    response_id: str  # opaque id of the landed response


def sql_text(name: str, sql_dir: Path = SQL_DIR) -> str:
    """The statement in sql/normalize/<name>.sql, without a trailing semicolon."""
    text = (sql_dir / f"{name}.sql").read_text(encoding="utf-8").strip()
    return text[:-1].rstrip() if text.endswith(";") else text


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _readable(path: str) -> bool:
    try:
        return os.path.isfile(path) and os.access(path, os.R_OK)
    except (OSError, ValueError):  # e.g. an embedded NUL byte
        return False


def _bodies_table(bodies: list[BodyRef]) -> tuple[pa.Table, dict[str, list[str]]]:
    """The context of every body as one Arrow table (built column-wise), and per source the distinct readable
    paths to read."""
    paths = [str(b.path) for b in bodies]
    readable = [_readable(p) for p in paths]
    table = pa.table(
        {
            "body_idx": pa.array(range(len(bodies)), pa.int32()),
            "snapshot_id": pa.array([b.snapshot_id for b in bodies], pa.string()),
            "snapshot_at": pa.array([b.snapshot_at for b in bodies], pa.timestamp("us", tz="UTC")),
            "region": pa.array([b.region for b in bodies], pa.string()),
            "project_id": pa.array([b.project_id for b in bodies], pa.string()),
            "source": pa.array([b.source for b in bodies], pa.string()),
            "path": pa.array(paths, pa.string()),
            "response_id": pa.array([b.response_id for b in bodies], pa.string()),
            "readable": pa.array(readable, pa.bool_()),
        }
    )
    # Each source's distinct readable paths, dealt largest first into READ_PARTITIONS lists: one read_blob per
    # list, run in parallel by the UNION ALL in _items.sql (a single read_blob scan uses one thread).
    to_read: dict[str, list[str]] = {}
    for source in SOURCES:
        todo = sorted({p for p, ok, b in zip(paths, readable, bodies) if ok and b.source == source})
        todo.sort(key=_size, reverse=True)
        prefix = source.split("_")[0]
        for i in range(READ_PARTITIONS):
            to_read[f"{prefix}{i}"] = todo[i::READ_PARTITIONS]
    return table, to_read


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def normalize(bodies: list[BodyRef], out_dir: Path, *, sql_dir: Path = SQL_DIR) -> dict[str, int]:
    """Flatten the pool documents in `bodies` into `out_dir/<table>.parquet`; return table -> row count."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(
        ":memory:",
        config={
            "threads": os.cpu_count() or 1,
            # Row order is fixed by explicit keys (body_idx, item_index), never by insertion order; letting
            # DuckDB drop it roughly halves the time to materialize the parsed documents.
            "preserve_insertion_order": False,
        },
    )
    try:
        # Strings without an offset (creationTimestamp) are read as UTC, whatever the machine's zone.
        con.execute("SET TimeZone = 'UTC'")
        con.execute(sql_text("_macros", sql_dir))
        context, to_read = _bodies_table(list(bodies))
        con.register("_bodies_arrow", context)
        con.execute("CREATE TEMP TABLE _bodies AS SELECT * FROM _bodies_arrow")
        con.unregister("_bodies_arrow")
        con.execute("CREATE TEMP TABLE _items AS " + sql_text("_items", sql_dir), to_read)
        con.execute("CREATE TEMP VIEW _rows AS " + sql_text("_rows", sql_dir))
        con.execute("CREATE TEMP TABLE _dups AS " + sql_text("_dups", sql_dir))
        con.execute("CREATE TEMP VIEW docs AS " + sql_text("_docs", sql_dir))
        counts: dict[str, int] = {}
        for table in TABLES:
            target = out_dir / f"{table}.parquet"
            row = con.execute(
                f"COPY ({sql_text(table, sql_dir)}\n) TO {_quote(target)} (FORMAT parquet, COMPRESSION zstd)"
            ).fetchone()
            counts[table] = int(row[0]) if row else 0
    finally:
        con.close()
    log.info(
        "normalized %d bodies in %.2fs: %d pools, %d rejected",
        len(bodies),
        time.perf_counter() - started,
        counts.get("pools", 0),
        counts.get("rejected_documents", 0),
    )
    return counts
