"""Asset metadata built from Parquet files: row counts, documented column schemas, markdown previews."""

from pathlib import Path

import dagster as dg
import duckdb

from pipeline.catalog.views import TableDoc
from pipeline.sqlfiles import quote_literal

PREVIEW_ROWS = 5


def table_spec(name: str, group: str, deps, partitions_def=None, *, layer: str, sql: tuple[str, ...] = ()) -> dg.AssetSpec:
    """An asset for a lake table, described and column-documented (names, types, meanings) from the header of its
    SQL file, so the UI shows the schema before the first run. `sql`: the SQL folders its rows come from (its
    code_version)."""
    from pipeline.assets.common import asset_kwargs
    from pipeline.catalog.docs import table_docs

    doc = table_docs().get(name)
    return dg.AssetSpec(
        key=name, group_name=group, kinds={"parquet", "duckdb"}, deps=deps, partitions_def=partitions_def,
        description=doc.description if doc else None, **asset_kwargs(layer, *sql),
        metadata={"dagster/column_schema": documented_schema(doc)} if doc else {},
    )


def documented_schema(doc: TableDoc) -> dg.TableSchema:
    """The columns a table's SQL header documents, typed as DuckDB spells the type (as a run's metadata does)."""
    return dg.TableSchema(columns=[
        dg.TableColumn(name=c, type=_type_name(doc.types.get(c)), description=d) for c, d in doc.columns.items()])


def _type_name(sql_type: str | None) -> str:
    if not sql_type:
        return "unknown"
    try:
        return str(duckdb.sqltype(sql_type))
    except duckdb.Error:
        return sql_type


_MAX_CELL = 40


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def table_metadata(path: Path, doc: TableDoc | None, rows: int, *, select: str | None = None,
                   con: duckdb.DuckDBPyConnection | None = None) -> dict:
    """Metadata of the Parquet file `path`, or of the rows of `select` (a table kept in several files, such as
    the history) with `path` shown as where it lives. `con`: a connection to reuse (one per asset, not per
    table: a connection each cost ~20 ms a table)."""
    own = con is None
    con = duckdb.connect(":memory:") if own else con
    try:
        src = f"({select})" if select else f"read_parquet({quote_literal(str(path))})"
        cur = con.execute(f"SELECT * FROM {src} LIMIT {PREVIEW_ROWS}")
        names = [d[0] for d in cur.description]
        types = [d[1] for d in cur.description]
        preview = cur.fetchall()
    finally:
        if own:
            con.close()
    schema = list(zip(names, types))
    columns = [
        dg.TableColumn(name=name, type=str(type_), description=(doc.columns.get(name) if doc else None))
        for name, type_, *_ in schema
    ]
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in preview]
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": dg.TableSchema(columns=columns),
        "preview": dg.MetadataValue.md("\n".join(lines)),
        "path": dg.MetadataValue.path(str(path)),
    }
