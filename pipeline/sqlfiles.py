"""The one SQL helper: where the SQL files are, how they are read, and how a literal or an identifier is quoted
into SQL text. Every module reads its SQL and quotes through here.

The repo keeps SQL at the top level (`sql/`, next to `pipeline/`). A wheel carries a copy as package data,
`pipeline/_sql` (pyproject.toml: `force-include`), because `sql/` is no package and would be left out. So:
- installed from a wheel (`pip install poolscope-*.whl`, a Docker image, a packaged Dagster code location):
  the package data `pipeline/_sql`;
- source checkout or editable install (`make install`): the repo's `sql/`, where there is no `_sql`.

Everything is read through `importlib.resources` Traversables (`/`, `read_text`, `iterdir`, `name`), never
through filesystem-only calls, so it also works where the package is not a plain folder (e.g. a zip). No SQL
file path is ever handed to DuckDB: SQL text is read here and passed as a string.
"""

import os
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

PACKAGE_DATA = "_sql"  # the folder name inside `pipeline/` that the wheel build puts `sql/` into


def sql_root() -> Traversable:
    """The folder holding `normalize/`, `history/`, `reports/` and `checks/`."""
    package = files("pipeline")
    packaged = package / PACKAGE_DATA
    if packaged.is_dir():
        return packaged
    # Source checkout: `sql/` is the sibling of the `pipeline/` folder this module was imported from.
    source = Path(__file__).resolve().parents[1] / "sql"
    if source.is_dir():
        return source
    raise FileNotFoundError(
        f"poolscope's SQL files are missing: neither {packaged} (an installed wheel) nor {source} (a source "
        "checkout) exists; reinstall the package")


SQL_ROOT: Traversable = sql_root()


def sql_text(folder: str, name: str) -> str:
    """The text of `sql/<folder>/<name>.sql`."""
    return (SQL_ROOT / folder / f"{name}.sql").read_text(encoding="utf-8")


def has_sql(folder: str, name: str) -> bool:
    """Whether sql/<folder>/<name>.sql exists (an optional step, such as a family's rejection rules)."""
    return (SQL_ROOT / folder / f"{name}.sql").is_file()


def statement(folder: str, name: str) -> str:
    """`sql/<folder>/<name>.sql` as one statement to embed (`COPY (...) TO`, `CREATE ... AS`): without the
    trailing semicolon."""
    text = sql_text(folder, name).strip()
    return text[:-1].rstrip() if text.endswith(";") else text


def quote_literal(text: str | os.PathLike[str]) -> str:
    """A SQL string literal (a path is quoted as its text). For file paths, settings and comments, which DuckDB
    cannot bind as parameters in DDL, COPY or SET; values go in as parameters instead."""
    return "'" + os.fspath(text).replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """A SQL identifier, quoted whatever it contains."""
    return '"' + name.replace('"', '""') + '"'


def sql_names(folder: str) -> list[str]:
    """The names (without `.sql`) of the SQL files in `sql/<folder>`, sorted."""
    return sorted(entry.name.removesuffix(".sql") for entry in (SQL_ROOT / folder).iterdir()
                  if entry.name.endswith(".sql") and entry.is_file())


def sql_digest(*folders: str) -> str:
    """A short digest of every SQL file in `folders` (names and texts): what a table's rows depend on besides the
    code, e.g. an asset's code_version."""
    import hashlib

    digest = hashlib.sha256()
    for folder in folders:
        for name in sql_names(folder):
            digest.update(f"{folder}/{name}\0{sql_text(folder, name)}\0".encode())
    return digest.hexdigest()[:12]
