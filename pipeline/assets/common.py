"""What every poolscope asset carries in Dagster: owners, tags, and a code_version that changes when the code
or the SQL that makes its rows changes (the UI then marks downstream assets as changed since materialized)."""

from functools import cache

OWNERS = ["team:capacity-platform"]
CODE_LOCATION = "poolscope"


def tags(layer: str) -> dict[str, str]:
    """`layer`: raw, tables, history, reports, catalog or maintenance."""
    return {"source": "modelarts", "layer": layer}


@cache
def code_version(*sql_folders: str) -> str:
    """The package version, plus a digest of the SQL folders whose files make the asset's rows."""
    from pipeline.cli import package_version
    from pipeline.sqlfiles import sql_digest

    return f"{package_version()}+{sql_digest(*sql_folders)}" if sql_folders else package_version()


def asset_kwargs(layer: str, *sql_folders: str) -> dict:
    return {"owners": OWNERS, "tags": tags(layer), "code_version": code_version(*sql_folders)}
