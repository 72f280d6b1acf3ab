"""Where things live under the storage root. One place, so that no module invents a path of its own.

    <root>/inventory.duckdb                          the catalog: views over committed files only
    <root>/lake/raw/snapshot_id=<ID>/<WRITE>/        raw landing of one snapshot run (immutable)
    <root>/lake/<table>/snapshot_day=<D>/<ID>_<WRITE>.parquet     one snapshot's rows of a table
    <root>/lake/<table>/snapshot_day=<D>/day_<WRITE>.parquet      a compacted day: all its snapshots' rows
    <root>/lake/_manifests/<ID>.json                 the commit record of a snapshot: its files per table
    <root>/lake/_days/<D>.json                       the commit record of a compacted day (see store.DayRecord)
    <root>/lake/_history/                            pool_changes / pool_versions: record.json, state, files
                                                     (see history_store.py)
    <root>/lake/_tmp/                                work in progress; debris after a crash
    <root>/lake/.lock                                one writer at a time

A snapshot's table files are invisible until its manifest names them, and the catalog is rebuilt from the
manifests alone, so a crash at any point leaves the previous state intact.
"""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

SNAPSHOT_ID_FORMAT = "%Y%m%dT%H%M%SZ"
_SNAPSHOT_ID_RE = re.compile(r"^\d{8}T\d{6}Z$")
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def snapshot_id_for(moment: datetime) -> str:
    """Sortable UTC text, e.g. 20261128T060000Z."""
    if moment.tzinfo is None:
        raise ValueError("snapshot time must be timezone-aware")
    return moment.astimezone(timezone.utc).strftime(SNAPSHOT_ID_FORMAT)


def snapshot_at_of(snapshot_id: str) -> datetime:
    check_snapshot_id(snapshot_id)
    return datetime.strptime(snapshot_id, SNAPSHOT_ID_FORMAT).replace(tzinfo=timezone.utc)


def check_snapshot_id(snapshot_id: str) -> str:
    # Snapshot ids become path components: only this exact shape may reach the file system.
    if not isinstance(snapshot_id, str) or not _SNAPSHOT_ID_RE.match(snapshot_id):
        raise ValueError(f"not a snapshot id (expected e.g. 20261128T060000Z): {snapshot_id!r}")
    return snapshot_id


def check_day(day: str) -> str:
    """A UTC day as YYYY-MM-DD text; like snapshot ids, days become path components."""
    if not isinstance(day, str) or not _DAY_RE.match(day):
        raise ValueError(f"not a day (expected YYYY-MM-DD): {day!r}")
    datetime.strptime(day, "%Y-%m-%d")
    return day


def day_of(snapshot_id: str) -> str:
    return snapshot_at_of(snapshot_id).strftime("%Y-%m-%d")


def new_write_id() -> str:
    return secrets.token_hex(4)


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def catalog(self) -> Path:
        return self.root / "inventory.duckdb"

    @property
    def raw(self) -> Path:
        return self.lake / "raw"

    @property
    def manifests(self) -> Path:
        return self.lake / "_manifests"

    @property
    def tmp(self) -> Path:
        return self.lake / "_tmp"

    @property
    def lock(self) -> Path:
        return self.lake / ".lock"

    def raw_dir(self, snapshot_id: str, write_id: str) -> Path:
        return self.raw / f"snapshot_id={check_snapshot_id(snapshot_id)}" / write_id

    def table_file(self, table: str, snapshot_id: str, write_id: str) -> Path:
        return self.lake / table / f"snapshot_day={day_of(snapshot_id)}" / f"{snapshot_id}_{write_id}.parquet"

    def compacted_file(self, table: str, day: str, write_id: str) -> Path:
        return self.lake / table / f"snapshot_day={check_day(day)}" / f"day_{write_id}.parquet"

    @property
    def day_records(self) -> Path:
        return self.lake / "_days"

    def day_record(self, day: str) -> Path:
        return self.day_records / f"{check_day(day)}.json"

    @property
    def history(self) -> Path:
        return self.lake / "_history"

    def manifest(self, snapshot_id: str) -> Path:
        return self.manifests / f"{check_snapshot_id(snapshot_id)}.json"

    def ensure(self) -> None:
        for p in (self.raw, self.manifests, self.day_records, self.tmp):
            p.mkdir(parents=True, exist_ok=True)
