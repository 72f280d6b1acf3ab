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
    # The columns the HTML page shows (all when empty): a page read in a minute cannot show 30 columns; the
    # workbook and the CSV always have every column.
    html_columns: tuple[str, ...] = ()
    # The order of the HTML page's rows, as pyarrow sort keys ((column, "ascending" | "descending"), ...): the
    # page shows the first rows only, so the newest and largest come first there.
    html_sort: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        validate_name(self.name)
        for attr in ("title", "basis"):
            if not isinstance(getattr(self, attr), str):
                raise TypeError(f"report {self.name}: {attr} must be a str")
        if not isinstance(self.table, pa.Table):
            raise TypeError(f"report {self.name}: table must be a pyarrow.Table, got {type(self.table).__name__}")
        self._check_column_keys("columns", self.columns)
        self._check_column_keys("formats", self.formats)
        self._check_column_keys("html_columns", dict.fromkeys(self.html_columns, ""))
        self._check_column_keys("html_sort", {c: o for c, o in self.html_sort})
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


@dataclass(frozen=True)
class CoverageItem:
    """One thing a report period is missing, as data (for coverage.csv) and as the sentence a reader sees."""

    kind: str  # excluded_snapshot | unreadable_project | unreadable_pool
    text: str
    snapshot_id: str | None = None  # an excluded snapshot
    region: str | None = None
    project_id: str | None = None
    project_name: str | None = None  # IAM name of the project, when known
    pool_id: str | None = None
    reason: str = ""  # the failed integrity checks, or the error code
    snapshots: int = 0  # snapshots affected
    hours: float = 0.0  # about how long it went unobserved (snapshots x the schedule period)


@dataclass(frozen=True)
class RegionCoverage:
    """How much of one region the used snapshots of a period read."""

    region: str
    snapshots: int  # used snapshots that targeted the region
    projects_expected: int  # projects they targeted
    projects_read: int  # read in every one of those snapshots
    projects_partly: int  # read in some
    projects_unread: int  # read in none

    @property
    def text(self) -> str:
        parts = [f"{self.projects_read:,} read in every snapshot"]
        if self.projects_partly:
            parts.append(f"{self.projects_partly:,} in some")
        if self.projects_unread:
            parts.append(f"{self.projects_unread:,} in none")
        return (f"region {self.region}: {self.projects_expected:,} project(s) expected over {self.snapshots:,} "
                f"snapshot(s); {', '.join(parts)}")


@dataclass(frozen=True)
class Coverage:
    """What the reports of a period cover: computed once (pipeline/reports/days.py), stated by every format.

    `hours_expected` runs from the period's start (or the lake's first snapshot) to its end (or one schedule
    period after its last snapshot); `hours_observed` is what the used snapshots observed (one period each).
    """

    snapshots: int  # snapshots taken in the period
    used: int  # of which the reports use
    items: tuple[CoverageItem, ...] = ()
    regions: tuple[RegionCoverage, ...] = ()
    hours_expected: float | None = None
    hours_observed: float | None = None

    @property
    def hours_missing(self) -> float:
        if self.hours_expected is None or self.hours_observed is None:
            return 0.0
        return max(0.0, self.hours_expected - self.hours_observed)

    @property
    def complete(self) -> bool:
        # under a minute of difference is clock skew of the scheduler, not a missed snapshot
        return not self.items and self.hours_missing < 1 / 60

    @property
    def scope(self) -> str:
        """Projects and regions expected and read, hours observed versus expected: one sentence."""
        if not self.regions and self.hours_expected is None:
            return ""
        expected = sum(r.projects_expected for r in self.regions)
        read = sum(r.projects_read for r in self.regions)
        partly = sum(r.projects_partly for r in self.regions)
        unread = sum(r.projects_unread for r in self.regions)
        regions_read = sum(1 for r in self.regions if r.projects_read + r.projects_partly)
        text = (f"Scope: {expected:,} project(s) in {len(self.regions):,} region(s) expected; {read:,} read in "
                f"every snapshot, {partly:,} in some, {unread:,} in none; {regions_read:,} of "
                f"{len(self.regions):,} region(s) read.")
        if self.hours_expected is not None and self.hours_observed is not None:
            text += (f" Hours observed: {self.hours_observed:,.4g} of {self.hours_expected:,.4g} expected"
                     + (f" ({self.hours_missing:,.4g} h with no snapshot)." if self.hours_missing >= 1 / 60 else "."))
        return text

    @property
    def summary(self) -> str:
        if self.snapshots == 0:
            return "Coverage: no snapshots in the period."
        scope = f" {self.scope}" if self.scope else ""
        if self.complete:
            return (f"Coverage: complete. The reports use every one of the {self.snapshots:,} snapshot(s) of the "
                    f"period, and every target was read.{scope}")
        excluded = sum(1 for i in self.items if i.kind == "excluded_snapshot")
        unread = len(self.items) - excluded
        parts = []
        if excluded:
            parts.append(f"{excluded:,} snapshot(s) excluded")
        if unread:
            parts.append(f"{unread:,} target(s) not read in some snapshots")
        if self.hours_missing >= 1 / 60:
            parts.append(f"{self.hours_missing:,.4g} h without a snapshot")
        return (f"Coverage: incomplete. The reports use {self.used:,} of the {self.snapshots:,} snapshot(s) of the "
                f"period; {' and '.join(parts)}.{scope}" + (" Missing:" if self.items else ""))

    def lines(self) -> list[str]:
        return [self.summary, *(i.text for i in self.items), *(r.text for r in self.regions)]


@dataclass(frozen=True)
class HeadlineFigure:
    """One headline number of the HTML page: what it counts, its value as text, and how it changed."""

    label: str
    value: str
    detail: str = ""  # a second line: the split, the change over the period, the caveat
    tone: str = ""  # "" | "warn" | "ok": how the figure should catch the eye


@dataclass(frozen=True)
class Headline:
    """The figures a manager reads first, computed from the report tables (pipeline/reports/headline.py)."""

    as_of: str  # what "now" is: the snapshot the figures are taken at
    figures: tuple[HeadlineFigure, ...]
