"""Where things live under the storage root. One place, so that no module invents a path of its own.

    <root>/inventory.duckdb                          the catalog: views over committed rows only
    <root>/lake/raw/snapshot_id=<ID>/<WRITE>/        raw landing of one snapshot run (immutable)
    <root>/lake/<table>/                             a Delta table (pipeline/lake/delta.py): _delta_log/ and
                                                     snapshot_day=<D>/part-*.parquet
    <root>/lake/_history/                            pool_changes / pool_versions: record.json, state, files
                                                     (see history_store.py)
    <root>/lake/_tmp/                                work in progress; debris after a crash
    <root>/lake/.lock                                one writer at a time for the local steps

A snapshot's rows are invisible until its `snapshots` row is committed, and the catalog is rebuilt from the
committed tables alone, so a crash at any point leaves the previous state intact.
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


class LakeFormatError(RuntimeError):
    """The storage root holds a lake of an older format (the message says how to migrate it)."""


@dataclass(frozen=True)
class Layout:
    root: Path
    # Where the tables and raw sets are kept when not under `root` (a lake in a bucket: pipeline/lake/storage.py);
    # `root` is then the local work folder (catalog file, raw landing before upload, local copies, locks).
    storage: object = None

    @property
    def in_bucket(self) -> bool:
        return self.storage is not None and self.storage.is_s3

    @property
    def mirror(self) -> Path:
        """A bucket lake's local copies of its immutable table files (pipeline/lake/mirror.py)."""
        return self.lake / "_mirror"

    def raw_key(self, snapshot_id: str, write_id: str, region: str = "all") -> str:
        """A raw set's place in a bucket, under the root: raw/region=<R>/date=<D>/snapshot_id=<ID>/<WRITE>
        (`all`: a run over every region)."""
        return f"raw/region={region}/date={day_of(snapshot_id)}/snapshot_id={check_snapshot_id(snapshot_id)}/{write_id}"

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
    def tmp(self) -> Path:
        return self.lake / "_tmp"

    @property
    def lock(self) -> Path:
        return self.lake / ".lock"

    @property
    def upkeep_marker(self) -> Path:
        """Touched when the tables' upkeep (sweep, vacuum) last ran (store.upkeep_due)."""
        return self.lake / ".upkeep"

    def raw_dir(self, snapshot_id: str, write_id: str) -> Path:
        return self.raw / f"snapshot_id={check_snapshot_id(snapshot_id)}" / write_id

    def table_dir(self, table: str) -> Path:
        return self.lake / table

    def tables(self, grace_s: float | None = None):
        """The lake's Delta tables (pipeline/lake/delta.py): on this root's local disk, or in the bucket."""
        from pipeline.lake.delta import DeltaLake
        from pipeline.lake.storage import Storage

        if self.in_bucket:
            # credentials from the environment, read now; reads go through the local copies
            kwargs = {} if grace_s is None else {"grace_s": grace_s}
            return DeltaLake(self.storage, None, mirror=self.mirror, **kwargs)
        storage = Storage(local=self.root.resolve())
        return DeltaLake(storage, {}) if grace_s is None else DeltaLake(storage, {}, grace_s=grace_s)

    @property
    def history(self) -> Path:
        return self.lake / "_history"

    def ensure(self) -> None:
        """Create the folders, after refusing a lake of the format before Delta tables: writing Delta tables
        into its table folders would hide its files (and vacuum would delete them)."""
        from pipeline.lake.folder_format import is_folder_format

        if not self.in_bucket and is_folder_format(self):
            raise LakeFormatError(
                f"{self.lake} holds a lake of the format before Delta tables (lake/_manifests/); copy it with "
                f"`poolscope migrate --config <this config> --to <new root>`, then point storage.root at the new "
                "root (the old one is left as it is)")
        for p in (self.raw, self.tmp):
            p.mkdir(parents=True, exist_ok=True)
