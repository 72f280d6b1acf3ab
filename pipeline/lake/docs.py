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
from pathlib import Path

from pipeline.lake.catalog import TableDoc

SQL_ROOT = Path(__file__).resolve().parents[2] / "sql"
_COLUMN = re.compile(r"^--\s(\w+)\s+([A-Z][A-Z0-9_\[\]()]*(?:\s[A-Z]+)?)\s{2,}(.*)$")
_CONTINUATION = re.compile(r"^--\s{8,}(\S.*)$")


def parse_header(text: str, name: str) -> TableDoc:
    description: list[str] = []
    columns: dict[str, str] = {}
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
            continue
        c = _CONTINUATION.match(line)
        if c and current:
            columns[current] += " " + c.group(1).strip()
    text_desc = " ".join(description)
    text_desc = re.sub(rf"^Table {re.escape(name)}:\s*", "", text_desc)
    return TableDoc(name=name, description=text_desc, columns=columns)


FOLDERS = ("normalize", "history", "reports")


@cache
def table_docs(folders: tuple[str, ...] = FOLDERS) -> dict[str, TableDoc]:
    """Docs of every table built by SQL in these folders of sql/ (files starting with '_' are steps)."""
    docs = {}
    for path in sorted(p for folder in folders for p in (SQL_ROOT / folder).glob("*.sql")):
        if path.name.startswith("_"):
            continue
        docs[path.stem] = parse_header(path.read_text(encoding="utf-8"), path.stem)
    return docs
