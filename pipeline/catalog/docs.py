"""Table and column documentation, read from the comment header of each SQL file (the single source).

Header shape (see sql/normalize/pools.sql):
    -- Table <name>: <description, possibly over several lines>
    --
    -- column   type   meaning (source)
    -- <name>   <TYPE> <meaning ...>
    --                 <continued meaning>
"""

import re
from functools import cache

from pipeline.catalog.views import TableDoc
from pipeline.sqlfiles import SQL_ROOT, sql_names, sql_text  # noqa: F401  (SQL_ROOT: re-exported)

_COLUMN = re.compile(r"^--\s(\w+)\s+([A-Z][A-Z0-9_\[\]()]*(?:\s[A-Z]+)?)\s{2,}(.*)$")
_CONTINUATION = re.compile(r"^--\s{8,}(\S.*)$")


def parse_header(text: str, name: str, folder: str = "") -> TableDoc:
    description: list[str] = []
    columns: dict[str, str] = {}
    types: dict[str, str] = {}
    in_columns = False
    current: str | None = None
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        body = line[2:].strip()
        if not in_columns:
            if body.lower().startswith("column ") and "type" in body.lower():
                in_columns = True
            elif body:
                description.append(body)
            continue
        m = _COLUMN.match(line)
        if m:
            current = m.group(1)
            columns[current] = m.group(3).strip()
            types[current] = m.group(2).strip()
            continue
        c = _CONTINUATION.match(line)
        if c and current:
            columns[current] += " " + c.group(1).strip()
    text_desc = " ".join(description)
    text_desc = re.sub(rf"^Table {re.escape(name)}:\s*", "", text_desc)
    return TableDoc(name=name, description=text_desc, columns=columns, types=types, folder=folder)


FOLDERS = ("normalize", "history", "reports")


@cache
def table_docs(folders: tuple[str, ...] = FOLDERS) -> dict[str, TableDoc]:
    """Docs of every table built by SQL in these folders of sql/ (files starting with '_' are steps)."""
    docs = {}
    for folder, name in sorted((folder, name) for folder in folders for name in sql_names(folder)):
        if name.startswith("_"):
            continue
        docs[name] = parse_header(sql_text(folder, name), name, folder)
    return docs
