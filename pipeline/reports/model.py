"""ReportTable: one report's rows plus everything a reader needs to trust them (title, basis, column notes)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyarrow as pa

# Report names become file names (`<name>.csv`) and sheet names, so they are restricted to a charset that
# cannot express a path, a drive, a separator or a NUL. The length cap keeps `<name>.csv` under every
# filesystem's 255-byte limit with room for the temporary-file prefix and suffix.
NAME_PATTERN = re.compile(r"[a-z0-9_]{1,64}")

# Hints change how a number is displayed (never the stored value): Excel number formats and HTML text.
FORMAT_HINTS = frozenset({"int", "float", "percent", "date", "datetime", "currency", "hours"})


def validate_name(name: object) -> str:
    """The name, if it is a safe identifier; ValueError otherwise (hostile names never reach the filesystem)."""
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise ValueError(f"report name must match [a-z0-9_]{{1,64}}, got {name!r}")
    return name


@dataclass(frozen=True)
class ReportTable:
    """A finished report: rows with real column types, and the text that states what they count.

    `columns` may omit columns (they are listed without a description) but may not name columns the table
    lacks, and `formats` hints must be known: both are typos in a report definition, caught here rather
    than shipped as a silently mislabelled spreadsheet.
    """

    name: str
    title: str
    basis: str
    table: pa.Table
    columns: dict[str, str]
    formats: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_name(self.name)
        for attr in ("title", "basis"):
            if not isinstance(getattr(self, attr), str):
                raise TypeError(f"report {self.name}: {attr} must be a str")
        if not isinstance(self.table, pa.Table):
            raise TypeError(f"report {self.name}: table must be a pyarrow.Table, got {type(self.table).__name__}")
        self._check_column_keys("columns", self.columns)
        self._check_column_keys("formats", self.formats)
        bad = {c: h for c, h in self.formats.items() if h not in FORMAT_HINTS}
        if bad:
            raise ValueError(f"report {self.name}: unknown format hints {bad}; known: {sorted(FORMAT_HINTS)}")

    def _check_column_keys(self, attr: str, mapping: dict[str, str]) -> None:
        if not isinstance(mapping, dict):
            raise TypeError(f"report {self.name}: {attr} must be a dict")
        unknown = sorted(set(mapping) - set(self.table.column_names))
        if unknown:
            raise ValueError(f"report {self.name}: {attr} names columns not in the table: {unknown}")

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def description(self, column: str) -> str:
        return self.columns.get(column, "")

    def hint(self, column: str) -> str | None:
        return self.formats.get(column)
