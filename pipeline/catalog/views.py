"""`inventory.duckdb`: documented views over the committed lake, rebuilt whole and swapped in atomically.

Why a fresh file each time instead of updating one in place: DuckDB lets one process write a database file
only while nobody else has it open, so an analyst's open session would block every snapshot. Instead the
catalog is built under a temporary name and renamed over the old one. A reader that has the old file open
keeps reading the old inode (a complete, older view of the lake); the next `connect` sees the new one.

The views list their Parquet files explicitly, each Delta table's active files (`delta_sources`), and keep only
the rows of writes a `snapshots` row names, so they can never show a row that is not committed. Paths are
absolute, so the catalog opens from any folder.
"""

import errno
import os
from collections.abc import Mapping
from functools import cache
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipeline.lake.layout import Layout, new_write_id
from pipeline.lake.space import no_space
from pipeline.sqlfiles import quote_ident, quote_literal


SNAPSHOT_DAY_COMMENT = (
    "UTC day of the snapshot: the lake's partition (lake/<table>/snapshot_day=<D>/); filter on it to read "
    "only that day's files"
)


@dataclass(frozen=True)
class TableDoc:
    name: str
    description: str
    columns: dict[str, str] = field(default_factory=dict)  # column -> comment
    types: dict[str, str] = field(default_factory=dict)  # column -> SQL type, as the header documents it
    folder: str = ""  # the sql/ folder of the file that builds it


# Pool tables (one row per snapshot x pool x ...), each with a current_<table> view (sql/catalog/).
POOL_TABLES = ("pools", "pool_labels", "pool_annotations", "pool_scopes", "pool_resources", "pool_resource_azs",
               "pool_capacity", "pool_capacity_azs", "pool_job_flavors", "pool_flavor_resources")
# Snapshot tables whose catalog view keeps one row per thing across snapshots instead of one per snapshot: the
# view is sql/catalog/_dedup_<table>.sql over the table's rows (`observed`).
DEDUPLICATED = ("pool_events", "pool_metrics")
SNAPSHOT_DAY_TABLES_FOLDER = "normalize"  # tables under lake/<table>/snapshot_day=<D>/ (a snapshot_day column)
HISTORY_FOLDER = "history"  # pool_changes, pool_versions (lake/_history/)
# The oldest DuckDB release whose readers open the catalog file (its storage format, named by the release that
# introduced it) and whose SQL every view uses: DuckDB 1.4 (the LTS line), 1.5 and 2.x all open it.
# tests/catalog/test_old_duckdb.py queries every view through the older releases.
CATALOG_STORAGE_VERSION = "v1.4.0"
CATALOG_ALIAS = "inventory"  # the database name a reader gets too (DuckDB names a file's database after its stem)


def _sources(layout: Layout) -> dict[str, str]:
    """table -> the SELECT of its view.

    Snapshot tables list their files from their Delta logs (`delta_sources`), the history (pool_changes,
    pool_versions) from its record (lake/_history/record.json, one rename). Derived
    tables (lake/derived/<name>.parquet) and daily report partitions (lake/reports/<name>/day=<D>.parquet) are
    each replaced whole by a rename, so a view may glob them: a reader sees every file complete, old or new.
    """
    from pipeline.history.store import history_sources  # here: history_store imports this module

    out = delta_sources(layout.tables())
    out.update(history_sources(layout))  # before derived/: the record replaces the whole-lake files
    derived = layout.lake / "derived"
    for f in sorted(derived.glob("*.parquet")) if derived.is_dir() else []:
        out.setdefault(f.stem, f"SELECT * FROM read_parquet({quote_literal(str(f.resolve()))})")
    reports = layout.lake / "reports"
    for d in sorted(reports.iterdir()) if reports.is_dir() else []:
        if d.is_dir() and any(d.glob("day=*.parquet")):
            pattern = str(d.resolve() / "day=*.parquet")
            out.setdefault(d.name, f"SELECT * FROM read_parquet({quote_literal(pattern)}, union_by_name = true, "
                                   f"hive_partitioning = false)")
    return out


# Columns of the snapshots table that belong to the commit protocol, not to the documented table: which write is
# current, and what the commit recorded (raw set, checks, rows per table; pipeline/lake/store.py).
PROTOCOL_COLUMNS = ("write_id", "commit_record")


def _protocol_columns(lake) -> str:
    """The protocol columns the lake's snapshots table has (a table another writer made may lack commit_record)."""
    from pipeline.lake.delta import SNAPSHOTS

    present = {f.name for f in lake.open(SNAPSHOTS).schema().fields}
    return ", ".join(c for c in PROTOCOL_COLUMNS if c in present)


def delta_sources(lake, files=None) -> dict[str, str]:
    """table -> the SELECT of its view over a Delta lake (pipeline/lake/delta.py): every table's files, kept to
    the rows of the writes its `snapshots` rows name. `snapshots` is listed first: a write it names appended its
    rows before, and they are swept only a grace period after being replaced, so the listing is consistent.
    `files(table)`: where the files are read from (default: the lake's own; a Mirror's local copies)."""
    from pipeline.lake.delta import SNAPSHOTS, visible_select

    files = files or lake.files
    snapshots = files(SNAPSHOTS)
    if not snapshots:
        return {}
    paths = ", ".join(quote_literal(f) for f in snapshots)
    out = {SNAPSHOTS: f"SELECT * EXCLUDE ({_protocol_columns(lake)}) FROM read_parquet([{paths}], "
                      "hive_partitioning = true, hive_types = {'snapshot_day': DATE}, union_by_name = true)"}
    current = f"(SELECT snapshot_id, write_id FROM read_parquet([{paths}], hive_partitioning = false))"
    for table in lake.tables():
        if table != SNAPSHOTS:
            paths = files(table)
            if paths:
                out[table] = visible_select(paths, current)
    return out


def _registered_sources(con: duckdb.DuckDBPyConnection, lake) -> dict[str, str]:
    """As delta_sources, over each table's Arrow dataset registered on `con` (`_delta_<table>`): for a bucket,
    pyarrow's own S3 reader (parallel, pre-buffered ranges) instead of DuckDB reading every range through the
    Python fsspec bridge. Measured on SeaweedFS, 10 days x 2,000 pools: open 0.2-0.4 s instead of 1.0-1.2 s,
    the capacity report 1.2-1.7 s instead of 1.8-2.0 s. (On a local disk DuckDB's own reader is the faster.)"""
    from pipeline.lake.delta import SNAPSHOTS

    snapshots = lake.open(SNAPSHOTS)
    if snapshots is None:
        return {}
    day = "REPLACE (CAST(snapshot_day AS DATE) AS snapshot_day)"  # a string in the Delta schema
    con.register(f"_delta_{SNAPSHOTS}", snapshots.to_pyarrow_dataset())
    out = {SNAPSHOTS: f"SELECT * EXCLUDE ({_protocol_columns(lake)}) {day} FROM _delta_{SNAPSHOTS}"}
    for table in lake.tables():
        if table != SNAPSHOTS:
            con.register(f"_delta_{table}", lake.open(table).to_pyarrow_dataset())
            out[table] = (f"SELECT * EXCLUDE (write_id) {day} FROM _delta_{table} WHERE (snapshot_id, write_id) IN "
                          f"(SELECT snapshot_id, write_id FROM _delta_{SNAPSHOTS})")
    return out


def delta_connection(lake, *, mirror: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (in memory) with every documented view over a Delta lake, local or in a bucket:
    what an analyst opens where there is no inventory.duckdb (`poolscope sql` on a bucket). `mirror`: a folder
    where a bucket's data files are copied once and read from (pipeline/lake/mirror.py); without it, a bucket is
    read through pyarrow's datasets."""
    from pipeline.catalog.docs import table_docs

    con = lake.connect()
    try:
        if not lake.storage.is_s3:
            sources = delta_sources(lake)
        elif mirror is not None:
            from pipeline.lake.mirror import Mirror

            sources = delta_sources(lake, Mirror(lake, mirror).files)
        else:
            sources = _registered_sources(con, lake)
        _create_views(con, sources, table_docs(), comments=False)
    except BaseException:
        con.close()
        raise
    return con


def lake_connection(layout: Layout) -> duckdb.DuckDBPyConnection:
    """An in-memory database with the catalog's views over the lake as committed now (no comments, no file):
    for a step that reads the lake before the catalog file is rebuilt (the reports of a snapshot's days)."""
    con = duckdb.connect(":memory:")
    try:
        create_lake_views(con, layout)
    except BaseException:
        con.close()
        raise
    return con


def create_lake_views(con: duckdb.DuckDBPyConnection, layout: Layout) -> None:
    """The catalog's views, every documented one (empty and typed before its table has rows), on `con`."""
    from pipeline.catalog.docs import table_docs  # here: docs imports this module

    _create_views(con, _sources(layout), table_docs(), comments=False)


def build_catalog(layout: Layout, docs: Mapping[str, TableDoc]) -> Path:
    """Write a new catalog from the manifests and the derived files, and swap it in. Returns its path."""
    sources = _sources(layout)
    layout.root.mkdir(parents=True, exist_ok=True)
    tmp = layout.root / f".inventory.{new_write_id()}.duckdb.tmp"
    wal = Path(str(tmp) + ".wal")
    try:
        _write_catalog(tmp, sources, docs)
    except BaseException:
        # A half-written catalog is removed at once (on a full disk its space is wanted back); the old one stays.
        tmp.unlink(missing_ok=True)
        wal.unlink(missing_ok=True)
        raise
    os.replace(tmp, layout.catalog)
    wal.unlink(missing_ok=True)
    return layout.catalog


def _write_catalog(tmp: Path, sources: Mapping[str, str], docs: Mapping[str, TableDoc]) -> None:
    # Attached with an explicit storage version: a file opened by `duckdb.connect(path)` gets the writing
    # release's newest format, which older readers (the 1.4 LTS line, the 1.5 CLI, DBeaver's bundled driver)
    # refuse outright. The catalog holds only views, which the oldest format supported here stores as well.
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH {quote_literal(str(tmp))} AS {CATALOG_ALIAS} "
                    f"(STORAGE_VERSION {quote_literal(CATALOG_STORAGE_VERSION)})")
        con.execute(f"USE {CATALOG_ALIAS}")
        # One transaction: a commit per view and comment cost ~0.2 s of a small snapshot's run.
        con.execute("BEGIN")
        _create_views(con, sources, docs, comments=True)
        con.execute("COMMIT")
        con.execute(f"CHECKPOINT {CATALOG_ALIAS}")
        con.execute("USE memory")
        con.execute(f"DETACH {CATALOG_ALIAS}")
    except duckdb.Error as exc:
        # Through ATTACH, DuckDB names the database by its alias in a write error; the user needs the file.
        if no_space(exc):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp)) from exc
        raise
    finally:
        con.close()


def _create_views(con: duckdb.DuckDBPyConnection, sources: Mapping[str, str], docs: Mapping[str, TableDoc], *,
                  comments: bool) -> None:
    # Every documented table has its view: over its files, or, before it has any, empty with the documented
    # columns and types (a query on a young lake gets no rows, not "table does not exist").
    for table in sorted(set(sources) | set(docs)):
        select = sources.get(table) or _empty_select(docs[table])
        doc = docs.get(table)
        if table in sources and doc is not None and doc.folder == HISTORY_FOLDER:
            # History files written by older rules (a record not rebuilt yet, lake/derived/) may lack a column
            # added since; the views of sql/catalog/ read it, so it reads as NULL rather than failing the build.
            select = f"{_empty_select(doc)} UNION ALL BY NAME {select}"
        if table == "snapshots" and table in sources and doc is not None:
            # One row per snapshot from its regions' rows (sql/catalog/_dedup_snapshots.sql), column by column: a
            # row written by an older release lacks a column added since, which reads as NULL.
            select = _deduplicated(table, f"{_empty_select(doc)} UNION ALL BY NAME {select}")
        if table in DEDUPLICATED:
            select = _deduplicated(table, select)
        con.execute(f"CREATE VIEW {quote_ident(table)} AS {select}")
        if comments:
            _comment(con, table, docs.get(table))
    if {"pools", "pool_changes"} <= set(sources) | set(docs):
        _current_views(con, docs if comments else {})


def _deduplicated(table: str, select: str) -> str:
    """The view of a DEDUPLICATED table: sql/catalog/_dedup_<table>.sql over its rows of every snapshot."""
    from pipeline.sqlfiles import statement

    return f"WITH observed AS ({select}) {statement('catalog', f'_dedup_{table}')}"


def _comment(con: duckdb.DuckDBPyConnection, table: str, doc: TableDoc | None) -> None:
    if doc is None:
        return
    present = {r[0] for r in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()}
    statements = [f"COMMENT ON VIEW {quote_ident(table)} IS {quote_literal(doc.description)}"]
    statements += [f"COMMENT ON COLUMN {quote_ident(table)}.{quote_ident(column)} IS {quote_literal(comment)}"
                   for column, comment in {**doc.columns, "snapshot_day": SNAPSHOT_DAY_COMMENT}.items()
                   if column in present]
    con.execute(";\n".join(statements))  # one call: a statement per call cost ~10 ms a table


def _empty_select(doc: TableDoc) -> str:
    """A SELECT of no rows with the documented columns and types (VARCHAR where a type does not parse)."""
    cols = []
    for column in doc.columns:
        sql_type = doc.types.get(column, "VARCHAR")
        if not _type_ok(sql_type):
            sql_type = "VARCHAR"
        cols.append(f"CAST(NULL AS {sql_type}) AS {quote_ident(column)}")
    if doc.folder == SNAPSHOT_DAY_TABLES_FOLDER:
        cols.append("CAST(NULL AS DATE) AS snapshot_day")
    return f"SELECT {', '.join(cols) or 'NULL AS none'} WHERE false"


@cache
def _type_ok(sql_type: str) -> bool:
    probe = duckdb.connect(":memory:")
    try:
        probe.execute(f"SELECT CAST(NULL AS {sql_type})")
        return True
    except duckdb.Error:
        return False
    finally:
        probe.close()


def _current_views(con: duckdb.DuckDBPyConnection, docs: Mapping[str, TableDoc]) -> None:
    """current_observation (sql/catalog/current_observation.sql), a current_<table> per pool table, and the other
    views of sql/catalog/."""
    from pipeline.catalog.docs import parse_header
    from pipeline.sqlfiles import sql_names, sql_text

    text = sql_text("catalog", "current_observation")
    con.execute(f"CREATE VIEW current_observation AS {text.strip().rstrip(';')}")
    if docs:
        _comment(con, "current_observation", parse_header(text, "current_observation"))
    for table in POOL_TABLES:
        name = f"current_{table}"
        con.execute(f"CREATE VIEW {quote_ident(name)} AS SELECT t.* FROM {quote_ident(table)} AS t "
                    "SEMI JOIN current_observation AS c USING (snapshot_id, region, project_id, pool_id)")
        doc = docs.get(table)
        if doc is not None:
            _comment(con, name, TableDoc(name, f"The rows of {table} at each pool's latest observation, unless "
                                               "a confirmed deletion came after it (see current_observation).",
                                         doc.columns))
    # The other views of sql/catalog/ (physical_capacity, ...), over the tables and the views above.
    for view in sql_names("catalog"):
        if view == "current_observation" or view.startswith("_"):  # '_' files are parts of other views
            continue
        text = sql_text("catalog", view)
        con.execute(f"CREATE VIEW {quote_ident(view)} AS {text.strip().rstrip(';')}")
        if docs:
            _comment(con, view, parse_header(text, view))
