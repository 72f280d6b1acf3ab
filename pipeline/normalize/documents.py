"""Normalize landed ModelArts pool responses into Parquet tables, with DuckDB SQL.

`normalize(bodies, out_dir)` reads the landed response bodies named by `BodyRef`s and writes one Parquet file
per table into `out_dir` (`<table>.parquet`, zstd), every table even when empty, and returns table -> rows.

All the work is SQL in `sql/normalize/` (each file documents its columns at the top); this module only
orchestrates, in one private in-memory DuckDB database:

1. `_macros.sql`  lenient conversion macros (`pool_int`, `pool_bool`, `pool_ts`, `pool_text`, `pool_count`, ...);
   `_cut.sql` -> the table macro `pool_cut`: body files read with `read_blob`, cut into candidate documents, each
   parsed once with a lenient STRUCT schema (`from_json`); unusable bodies and documents get a reason.
2. `_types.sql`, `_bodies.sql` -> TABLE `_bodies`: one row per `BodyRef` (context), from an Arrow table built
   here column-wise; the context strings become ENUMs (cheap to write, still VARCHAR in Parquet).
3. `_show_raw.sql` -> TABLE `_show_raw`: show_pool bodies staged (one pool per file: see the file's note);
   `_items.sql` -> TABLE `_items`: `pool_cut` over every body, joined to the context. The rejected items of a huge
   list body are left out; `_huge_rejected.sql` -> TABLE `_huge_rejected` counts them in a second pass over those
   bodies only (usually none), so that memory does not grow with the number of rejected items.
   `_bad_counts.sql`: the exact count check of the documents `pool_cut` flagged (usually none).
4. `_dups.sql` -> TABLE `_dups`: documents whose pool id was already seen in the snapshot and project.
5. `_dup_excerpts.sql` -> TABLE `_dup_excerpts`: text of those duplicates (re-reads only their bodies).
6. `_docs.sql` -> VIEW `docs`: the usable documents, the input of every table file.
7. `<table>.sql` -> `COPY (...) TO out_dir/<table>.parquet`, two or more at a time on cursors of the database
   (one COPY alone keeps about 1.3 of 2 cores busy; its Parquet writer is partly serial).

A body or document that cannot be used lands in `rejected_documents` with its reason (severity error, at most
a fixed number of rows per body and reason); nothing in a body's content can stop the run. Python looks inside
a body only when the landing found a repeated key in it (`read_last_values`, step 0: normally no body); else per
body it only checks that the file is readable.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import stat
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.modelarts.repeated import CHECK_MAX_BYTES, last_wins
from pipeline.sqlfiles import quote_literal, statement

log = logging.getLogger(__name__)

SQL_FOLDER = "normalize"

# Output tables. Names and columns are public API (DESIGN.md "Tables"; columns documented in each SQL file).
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
    "pool_flavor_resources",
    "rejected_documents",
)
# Largest first, so that the COPYs running side by side finish at about the same time.
_WRITE_ORDER = ("pool_labels", "pools", "pool_annotations", "pool_capacity_azs", "pool_job_flavors",
                "pool_capacity", "pool_scopes", "pool_resource_azs", "pool_resources", "pool_flavor_resources",
                "rejected_documents")
assert sorted(_WRITE_ORDER) == sorted(TABLES)

SOURCES = ("list_pools", "show_pool")
READ_PARTITIONS = 8  # per source; must match $list0..$list7 (_items.sql) and $show0..$show7 (_show_raw.sql)
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1"  # level 1: faster than 3, as small


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
    # Does the body repeat a key in some object (landing's check, pipeline.modelarts.repeated)? True: the body is
    # rewritten with the last value of each (as the SDK reads it), and each document concerned gets a warning
    # row. None: not checked (too large or too deep to check at landing): read as it is, with a warning row.
    repeated_keys: bool | None = False


def sql_text(name: str) -> str:
    """The statement(s) in sql/normalize/<name>.sql, without a trailing semicolon."""
    return statement(SQL_FOLDER, name)


def _stat(path: str) -> tuple[bool, int]:
    """(readable regular file, size). Never raises: a bad path is simply unreadable."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # missing, permission, embedded NUL byte, ...
        return False, 0
    return stat.S_ISREG(st.st_mode) and os.access(path, os.R_OK), st.st_size


def _bodies_arrow(bodies: list[BodyRef]) -> tuple[pa.Table, dict[str, list[str]]]:
    """The context of every body as one Arrow table (built column-wise), and the read_blob parameters: per
    source, the distinct readable paths dealt largest first into READ_PARTITIONS lists (one read_blob scan runs
    on one thread; _items.sql reads the lists side by side in a UNION ALL)."""
    paths = [str(b.path) for b in bodies]
    stats = [_stat(p) for p in paths]
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
            "readable": pa.array([ok for ok, _ in stats], pa.bool_()),
        }
    )
    params: dict[str, list[str]] = {}
    for source in SOURCES:
        sizes = {p: size for p, (ok, size), b in zip(paths, stats, bodies) if ok and b.source == source}
        todo = sorted(sizes, key=lambda p: (-sizes[p], p))
        prefix = source.split("_")[0]
        for i in range(READ_PARTITIONS):
            params[f"{prefix}{i}"] = todo[i::READ_PARTITIONS]
    return table, params



def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may run on (containers, taskset)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """The private in-memory database a normalization runs in."""
    con = duckdb.connect(
        ":memory:",
        config={
            "threads": threads or _cpu_count(),
            # Row order is fixed by explicit keys (body_idx, item_index), never by insertion order; letting
            # DuckDB drop it roughly halves the time to materialize the parsed documents.
            "preserve_insertion_order": False,
        },
    )
    # A long query would otherwise draw DuckDB's progress bar on the caller's stdout (a CLI's output, a parent
    # process reading JSON from it).
    con.execute("SET enable_progress_bar = false")
    # Strings without an offset (creationTimestamp) are read as UTC, whatever the machine's zone.
    con.execute("SET TimeZone = 'UTC'")
    return con


REPEATED_REASON = "repeated key in the document (the last value is read)"
UNCHECKED_REASON = "body not checked for repeated keys (a repeated key reads its first value)"


@dataclass(frozen=True)
class KeyWarning:
    """A warning row of rejected_documents about repeated keys (see `read_last_values`)."""

    body_idx: int
    item_index: int | None
    pool_id: str | None
    reason: str
    excerpt: str | None


def read_last_values(bodies: list[BodyRef], scratch: Path) -> tuple[list[BodyRef], list[KeyWarning]]:
    """The bodies to read, and the warnings about repeated keys.

    A body the landing flagged (`repeated_keys` True) is rewritten into `scratch` with the last value of each
    repeated key, as the SDK reads it (the landed bytes stay as they are); each of its documents that repeated
    a key gets a warning naming the keys. A body that was not checked (`repeated_keys` None), or that cannot be
    rewritten here, is read as it is, with one warning for the body. Flagged bodies are rare: this is Python."""
    out, warnings = list(bodies), []
    for idx, ref in enumerate(bodies):
        if ref.repeated_keys is False or ref.source not in SOURCES:
            continue
        ok, size = _stat(ref.path)
        if not ok:
            continue  # "body file could not be read", from the SQL
        done = None
        if ref.repeated_keys and size <= CHECK_MAX_BYTES:
            done = last_wins(Path(ref.path).read_bytes(), list_body=ref.source == "list_pools")
        if done is None:
            warnings.append(KeyWarning(idx, None, None, UNCHECKED_REASON, None))
            continue
        text, found = done
        path = scratch / f"{idx}.body"
        path.write_bytes(text)
        out[idx] = dataclasses.replace(ref, path=str(path))
        warnings.extend(KeyWarning(idx, f.item_index, f.pool_id, REPEATED_REASON,
                                   "repeated: " + ", ".join(f.keys)[:190]) for f in found)
    return out, warnings


def _warnings_arrow(warnings: list[KeyWarning]) -> pa.Table:
    return pa.table({
        "body_idx": pa.array([w.body_idx for w in warnings], pa.int32()),
        "item_index": pa.array([w.item_index for w in warnings], pa.int32()),
        "pool_id": pa.array([w.pool_id for w in warnings], pa.string()),
        "reason": pa.array([w.reason for w in warnings], pa.string()),
        "excerpt": pa.array([w.excerpt for w in warnings], pa.string()),
    })


def stage(con: duckdb.DuckDBPyConnection, bodies: list[BodyRef],
          warnings: list[KeyWarning] = ()) -> None:
    """Steps 1-6: read and parse the bodies into `_items`, find duplicates, define the `docs` view."""
    con.execute(sql_text("_macros"))
    con.execute(sql_text("_cut"))
    context, read_params = _bodies_arrow(bodies)
    con.register("_bodies_arrow", context)
    con.register("_warnings_arrow", _warnings_arrow(list(warnings)))
    try:
        con.execute(sql_text("_types"))
        con.execute("CREATE TABLE _bodies AS " + sql_text("_bodies"))
        con.execute("CREATE TABLE _key_warnings AS SELECT * FROM _warnings_arrow")
    finally:
        con.unregister("_bodies_arrow")
        con.unregister("_warnings_arrow")
    try:
        _read(con, read_params)
    except duckdb.Error:
        # A file that stat() called readable failed to read (an I/O error, a file over DuckDB's 3.9 GiB limit,
        # a race with a writer). Find the culprits one by one, mark them unreadable (their bodies become
        # "body file could not be read"), and read the rest again. This path is rare; a second failure raises.
        bad = [p for paths in read_params.values() for p in paths if not _duckdb_can_read(con, p)]
        if not bad:
            raise
        log.warning("normalize: %d body file(s) could not be read: %s", len(bad), bad[:5])
        con.execute("UPDATE _bodies SET readable = false WHERE list_contains($bad, path)", {"bad": bad})
        skip = set(bad)
        _read(con, {k: [p for p in v if p not in skip] for k, v in read_params.items()})
    if con.execute("SELECT count(*) FROM _items WHERE count_suspect").fetchone()[0]:
        con.execute(sql_text("_bad_counts"))
    huge = [row[0] for row in con.execute("SELECT DISTINCT path FROM _items WHERE huge ORDER BY path").fetchall()]
    if huge:
        log.warning("normalize: %d list body(ies) with more than the usual number of items: %s", len(huge), huge[:5])
    # Without huge bodies the table is only created, empty, with its columns (running the query costs 70 ms).
    con.execute(f"CREATE TABLE _huge_rejected AS SELECT * FROM ({sql_text('_huge_rejected')}\n)"
                + ("" if huge else " LIMIT 0"), {"huge": huge})
    con.execute("CREATE TABLE _dups AS " + sql_text("_dups"))
    dup_paths = con.execute(
        "SELECT r.source, list(DISTINCT r.path) FROM _dups JOIN _items AS r USING (doc_key) GROUP BY r.source"
    ).fetchall()
    dup_params: dict[str, list[str]] = {"dup_list": [], "dup_show": []}
    for source, paths in dup_paths:
        dup_params[f"dup_{source.split('_')[0]}"] = sorted(paths)
    con.execute("CREATE TABLE _dup_excerpts AS " + sql_text("_dup_excerpts"), dup_params)
    con.execute("CREATE VIEW docs AS " + sql_text("_docs"))


def _read(con: duckdb.DuckDBPyConnection, read_params: dict[str, list[str]]) -> None:
    show = {k: v for k, v in read_params.items() if k.startswith("show")}
    lists = {k: v for k, v in read_params.items() if k.startswith("list")}
    con.execute("CREATE OR REPLACE TABLE _show_raw AS " + sql_text("_show_raw"), show)
    con.execute("CREATE OR REPLACE TABLE _items AS " + sql_text("_items"), lists)


def _duckdb_can_read(con: duckdb.DuckDBPyConnection, path: str) -> bool:
    try:
        con.execute("SELECT count(content) FROM read_blob($p)", {"p": [path]}).fetchall()
        return True
    except duckdb.Error:
        return False


def write_tables(con: duckdb.DuckDBPyConnection, out_dir: Path) -> dict[str, int]:
    """Step 7: every table file, COPY'd to out_dir/<table>.parquet, several at a time; table -> rows."""

    def write(table: str) -> tuple[str, int]:
        cur = con.cursor()  # one cursor per thread: a DuckDB connection is not shared across threads
        try:
            target = quote_literal(out_dir / f"{table}.parquet")
            row = cur.execute(f"COPY ({sql_text(table)}\n) TO {target} ({PARQUET_OPTIONS})").fetchone()
            return table, int(row[0]) if row else 0
        finally:
            cur.close()

    threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    with ThreadPoolExecutor(max_workers=max(2, min(threads, len(TABLES)))) as pool:
        written = dict(pool.map(write, _WRITE_ORDER))
    return {table: written[table] for table in TABLES}


def rejected_count(out_dir: Path) -> int:
    """Documents (or bodies) that could not be used, from a written `rejected_documents.parquet`: its error rows,
    a summary row counting for the documents it stands for. Warnings are not rejections."""
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    try:
        row = con.execute(
            "SELECT coalesce(sum(documents) FILTER (WHERE severity = 'error'), 0) FROM read_parquet($p)",
            {"p": str(Path(out_dir) / "rejected_documents.parquet")},
        ).fetchone()
        return int(row[0])
    finally:
        con.close()


def normalize(bodies: list[BodyRef], out_dir: Path) -> dict[str, int]:
    """Flatten the pool documents in `bodies` into `out_dir/<table>.parquet`; return table -> row count.

    Every table is written, even when empty. Unusable bodies and documents become rows of
    `rejected_documents`; only an environment failure (disk full, out of memory, missing SQL) raises.
    """
    bodies = list(bodies)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix=".rewritten-", dir=out_dir))
    con = connect()
    try:
        bodies, warnings = read_last_values(bodies, scratch)
        stage(con, bodies, warnings)
        counts = write_tables(con, out_dir)
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)
    log.info(
        "normalized %d bodies in %.2fs: %d pools, %d rejected_documents row(s)",
        len(bodies),
        time.perf_counter() - started,
        counts["pools"],
        counts["rejected_documents"],
    )
    return counts
