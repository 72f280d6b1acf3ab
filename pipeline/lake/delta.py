"""The lake's tables as Delta Lake tables (delta-rs), on a local disk or in a bucket (pipeline/lake/storage.py):
the commit protocol that replaces the manifests, day records, writer lock and our own garbage collection
(docs/lake-on-delta.md).

Each table is `lake/<table>/`, partitioned by `snapshot_day` (YYYY-MM-DD, UTC). Every row carries the
`snapshot_id` it belongs to and the `write_id` of the run that wrote it. A snapshot is committed in two moves:

1. its rows are appended to every table (one Delta commit per table, in parallel; appends never conflict);
2. its row in `snapshots` replaces the earlier one of the same snapshot id, if any (an overwrite by predicate:
   one commit, retried when another writer's commit got in first).

The `snapshots` row is the commit point. Readers take `snapshots` first, then the other tables' files, and keep
only rows whose (snapshot_id, write_id) is a current snapshots row (`visible_select`). So a crash after 1 leaves
rows that nobody sees, a re-run hides the rows it replaces in the same commit that publishes its own, and two
runs of different snapshots (two regions, two hours) commit side by side with no lock: Delta's conditional
commits order them (`If-None-Match` on S3; an atomic link on a local disk).

Rows no current snapshots row names (a crashed write's, a replaced write's) are deleted by `sweep` once their
files are older than the grace period, by the first run's cleanup after it (a write marks itself in `lake/_pending/`
until its snapshots row is committed, and marks the write it replaced; the cleanup sweeps when a mark is older than
the grace): a write still in flight has no snapshots row yet, and a reader that
listed files a moment ago may still read a replaced write's, so neither can be swept early. `optimize` compacts
a day's files (after sweeping it) and `vacuum` deletes files no version needs once the grace has passed.
"""

import math
import random
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from pipeline.lake.layout import check_day, check_snapshot_id, day_of
from pipeline.lake.storage import Storage

SNAPSHOTS = "snapshots"
PARTITION = "snapshot_day"
PENDING = "_pending"  # lake/_pending/: marks of writes in flight or replaced (DeltaLake.pending)
KEY = ("snapshot_id", "write_id")
GRACE_S = 600.0
# Table properties, set when a table is created:
# - a checkpoint every 10 commits: without one, opening a table replays every JSON commit (218-251 ms a commit
#   by the 200th-500th in benchmarks/SPIKE_DELTA.md; 30 ms locally and 61 ms on S3 with it);
# - file statistics for the two columns the protocol reads from the log (which write a file holds), and none
#   for the rest: DuckDB, Spark and Trino scan these partitions whole, and stats cost time on every write.
TABLE_CONFIG = {
    "delta.checkpointInterval": "10",
    "delta.dataSkippingStatsColumns": ",".join(KEY),
}
COMMIT_ATTEMPTS = 8
WRITER = WriterProperties(compression="ZSTD")


class DeltaLakeError(RuntimeError):
    """A table could not be written or read (the message names the table and the lake, never a credential)."""


@dataclass(frozen=True)
class Written:
    """What a snapshot commit did: rows per table, and the snapshots table's version that made it visible."""

    snapshot_id: str
    write_id: str
    rows: dict[str, int]
    version: int
    replaced: str | None  # the write id whose snapshot row this one replaced


WRITE_SEPARATOR = "+"  # never in a write id (hex)


def writes_of(mark: str) -> list[str]:
    """The write ids of a write mark (`DeltaLake.current_writes`)."""
    return mark.split(WRITE_SEPARATOR) if mark else []


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _with_key(table: pa.Table, snapshot_id: str, write_id: str) -> pa.Table:
    """The rows with `write_id` and `snapshot_day` set (replacing any such column), `snapshot_id` checked."""
    day = day_of(snapshot_id)
    if "snapshot_id" not in table.column_names:
        raise DeltaLakeError("rows without a snapshot_id column cannot be committed")
    ids = pc.unique(table["snapshot_id"]).to_pylist()
    if ids and ids != [snapshot_id]:
        raise DeltaLakeError(f"rows of snapshot(s) {ids[:3]} in a commit of {snapshot_id}")
    for name in (PARTITION, "write_id"):
        if name in table.column_names:
            table = table.drop_columns([name])
    n = table.num_rows
    return table.append_column("write_id", pa.array([write_id] * n, pa.string())) \
                .append_column(PARTITION, pa.array([day] * n, pa.string()))


class DeltaLake:
    """The lake's Delta tables under `<root>/lake/`. Holds the delta-rs options (credentials read once from the
    environment by Storage.delta_options); never prints them."""

    def __init__(self, storage: Storage, environ: Mapping[str, str] | None = None, *, grace_s: float = GRACE_S,
                 mirror=None):
        self.storage = storage
        self.grace_s = grace_s
        # A bucket lake read through local copies of its data files (pipeline/lake/mirror.py): `files()` and
        # `data_files()` give their local paths.
        self.mirror = mirror
        self._environ = environ
        self._options = storage.delta_options(environ)

    def __repr__(self) -> str:
        return f"DeltaLake({self.storage.describe()!r})"

    def uri(self, table: str) -> str:
        return self.storage.uri("lake", table)

    def open(self, table: str, version: int | None = None) -> DeltaTable | None:
        """The table, or None before its first commit."""
        try:
            return DeltaTable(self.uri(table), version=version, storage_options=self._options or None)
        except TableNotFoundError:
            return None

    # ------------------------------------------------------------------ writing

    def append(self, table: str, rows: pa.Table, snapshot_id: str, write_id: str) -> int:
        """Append one write's rows of a table (a commit of their own, invisible until the snapshots row)."""
        data = _with_key(rows, check_snapshot_id(snapshot_id), write_id)
        if not data.num_rows:
            return 0
        # Appends do not conflict with appends, but the first commits of a table do (two writers creating it) and
        # so does a schema change (a merged column): a failed commit committed nothing, so it is simply made again.
        self._retry(lambda: self._write(table, data, mode="append"))
        return data.num_rows

    def _write(self, table: str, data: pa.Table, *, mode: str, predicate: str | None = None) -> None:
        # Every column nullable: a table takes its schema from its first write, and a column that had no NULL
        # there (a Parquet REQUIRED field, as DuckDB writes some) would refuse a later snapshot's NULLs.
        data = data.cast(pa.schema([f.with_nullable(True) for f in data.schema], metadata=data.schema.metadata))
        # schema_mode="merge": a release that adds a column appends to tables written by the one before it.
        write_deltalake(self.uri(table), data, mode=mode, predicate=predicate, partition_by=[PARTITION],
                        configuration=TABLE_CONFIG, schema_mode="merge" if mode == "append" else None,
                        storage_options=self._options or None, writer_properties=WRITER)

    def commit_snapshot(self, snapshot_id: str, write_id: str, tables: Mapping[str, pa.Table],
                        snapshot_row: pa.Table, *, threads: int = 4) -> Written:
        """Commit one write of a snapshot: every table's rows, then its `snapshots` row (the commit point)."""
        check_snapshot_id(snapshot_id)
        if snapshot_row.num_rows != 1:
            raise DeltaLakeError(f"a snapshot commits exactly one snapshots row, not {snapshot_row.num_rows}")
        items = [(t, rows) for t, rows in sorted(tables.items()) if t != SNAPSHOTS and rows.num_rows]
        # In flight until its snapshots row is committed: if this process dies before, the mark stays and tells
        # the next run's cleanup that there are rows to sweep (`pending`).
        self._mark(f"{snapshot_id}-{write_id}.write")
        with ThreadPoolExecutor(max(1, min(threads, len(items) or 1))) as pool:
            counts = dict(zip([t for t, _ in items],
                              pool.map(lambda item: self.append(item[0], item[1], snapshot_id, write_id), items)))
        region = snapshot_row["region"][0].as_py() if "region" in snapshot_row.column_names else None
        replaced, version = self._publish(snapshot_id, write_id, _with_key(snapshot_row, snapshot_id, write_id),
                                          region)
        if replaced:  # the replaced write's rows, unseen now, are swept once the grace period has passed
            self._mark(f"{snapshot_id}-{write_id}.replaced")
        self._unmark(f"{snapshot_id}-{write_id}.write")
        return Written(snapshot_id, write_id, {**counts, SNAPSHOTS: 1}, version, replaced)

    # ------------------------------------------------------------------ what waits to be swept

    def _pending_path(self, name: str = "") -> str:
        return self.storage.fs_path("lake", PENDING, *([name] if name else []))

    def _mark(self, name: str) -> None:
        fs = self.filesystem()
        if not self.storage.is_s3:
            fs.create_dir(self._pending_path(), recursive=True)
        with fs.open_output_stream(self._pending_path(name)):
            pass

    def _unmark(self, name: str) -> None:
        try:
            self.filesystem().delete_file(self._pending_path(name))
        except FileNotFoundError:
            pass

    def pending(self, grace_s: float | None = None) -> list[str]:
        """Marks of writes whose rows may wait to be swept (a write that never committed, a replaced one), older
        than the grace period: one listing, so that each run's cleanup sweeps the tables only when there is
        something to sweep."""
        from pyarrow.fs import FileSelector, FileType

        grace = self.grace_s if grace_s is None else grace_s
        cutoff = time.time() - grace
        infos = self.filesystem().get_file_info(FileSelector(self._pending_path(), allow_not_found=True))
        return sorted(i.base_name for i in infos if i.type == FileType.File and i.mtime is not None
                      and i.mtime.timestamp() <= cutoff)

    def clear_pending(self, names: Iterable[str]) -> None:
        """Drop marks whose writes a sweep has dealt with."""
        for name in names:
            self._unmark(name)

    def commit_day(self, day: str, tables: Mapping[str, pa.Table], snapshot_rows: pa.Table, *,
                   threads: int = 4) -> dict[str, int]:
        """Commit many writes of one day at once (`poolscope migrate`): each table's rows in one append (every row
        already carries its snapshot_id and write_id), then the day's snapshots rows in one commit replacing those
        snapshot ids' rows. Same visibility as `commit_snapshot`: nothing shows before that last commit."""
        check_day(day)
        ids = sorted(set(snapshot_rows["snapshot_id"].to_pylist()))
        if len(ids) != snapshot_rows.num_rows or any(day_of(i) != day for i in ids):
            raise DeltaLakeError(f"the snapshots rows of a day's commit must be one per snapshot of {day}")
        current = dict(zip(snapshot_rows["snapshot_id"].to_pylist(), snapshot_rows["write_id"].to_pylist()))

        def add(item: tuple[str, pa.Table]) -> int:
            table, rows = item
            pairs = set(zip(rows["snapshot_id"].to_pylist(), rows["write_id"].to_pylist()))
            if not pairs <= set(current.items()):
                raise DeltaLakeError(f"{table}: rows of writes the day's snapshots rows do not name")
            data = rows.drop_columns([PARTITION]) if PARTITION in rows.column_names else rows
            data = data.append_column(PARTITION, pa.array([day] * data.num_rows, pa.string()))
            self._retry(lambda: self._write(table, data, mode="append"))
            return data.num_rows

        items = [(t, rows) for t, rows in sorted(tables.items()) if t != SNAPSHOTS and rows.num_rows]
        with ThreadPoolExecutor(max(1, min(threads, len(items) or 1))) as pool:
            counts = dict(zip([t for t, _ in items], pool.map(add, items)))
        row = snapshot_rows.drop_columns([PARTITION]) if PARTITION in snapshot_rows.column_names else snapshot_rows
        row = row.append_column(PARTITION, pa.array([day] * row.num_rows, pa.string()))
        which = ", ".join(_quote(i) for i in ids)
        self._retry(lambda: self._write(SNAPSHOTS, row, mode="overwrite",
                                        predicate=f"{PARTITION} = {_quote(day)} AND snapshot_id IN ({which})"))
        return {**counts, SNAPSHOTS: row.num_rows}

    def _publish(self, snapshot_id: str, write_id: str, row: pa.Table,
                 region: str | None = None) -> tuple[str | None, int]:
        """Replace the snapshot's row in `snapshots` with `row`; returns (the write mark replaced, new version).

        A snapshot is written whole (region NULL: its row replaces every row of the snapshot) or a region at a
        time (its row replaces that region's, and a whole write's, which read the region too): either way no
        region is ever seen twice, and regions' runs of one snapshot commit side by side."""
        predicate = f"{PARTITION} = {_quote(day_of(snapshot_id))} AND snapshot_id = {_quote(snapshot_id)}"
        if region is not None:
            predicate += f" AND (region = {_quote(region)} OR region IS NULL)"
        for attempt in range(COMMIT_ATTEMPTS):
            before = self.current_writes().get(snapshot_id)
            try:
                self._write(SNAPSHOTS, row, mode="overwrite", predicate=predicate)
            except CommitFailedError:
                # Another writer committed to the same day of `snapshots` first: read again, try again.
                time.sleep(min(2.0, 0.05 * 2 ** attempt) * (0.5 + random.random()))
                continue
            return before, self.open(SNAPSHOTS).version()
        raise DeltaLakeError(f"the snapshots row of {snapshot_id} could not be committed to {self.storage.describe()} "
                             f"in {COMMIT_ATTEMPTS} attempts: other writers kept committing first")

    # ------------------------------------------------------------------ reading

    def current_writes(self, version: int | None = None) -> dict[str, str]:
        """snapshot id -> the write mark of its current snapshots rows (what readers see): the write id, or for a
        snapshot written a region at a time its parts' write ids joined by '+' in order (`writes_of`)."""
        dt = self.open(SNAPSHOTS, version)
        if dt is None:
            return {}
        t = dt.to_pyarrow_table(columns=list(KEY))
        writes: dict[str, list[str]] = {}
        for sid, wid in zip(t["snapshot_id"].to_pylist(), t["write_id"].to_pylist()):
            writes.setdefault(sid, []).append(wid)
        return {sid: WRITE_SEPARATOR.join(sorted(wids)) for sid, wids in writes.items()}

    def tables(self) -> list[str]:
        """Every table that has been created, `snapshots` included."""
        from pyarrow.fs import FileSelector, FileType

        fs = self.filesystem()
        try:
            infos = fs.get_file_info(FileSelector(self.storage.fs_path("lake"), allow_not_found=True))
        except OSError as exc:
            raise DeltaLakeError(f"cannot list {self.storage.describe()}: {exc}") from None
        names = []
        for info in infos:
            if info.type == FileType.Directory and not info.base_name.startswith(("_", ".")):
                log = fs.get_file_info(f"{info.path}/_delta_log")
                if log.type == FileType.Directory:
                    names.append(info.base_name)
        return sorted(names)

    def filesystem(self):
        """A pyarrow filesystem on which Storage.fs_path() names this lake's objects."""
        return self.storage.filesystem(self._environ)

    def connect(self, database: str = ":memory:"):
        """A DuckDB connection that reads this lake's file URIs (Storage.duckdb)."""
        return self.storage.duckdb(database, environ=self._environ)

    def files(self, table: str, version: int | None = None) -> list[str]:
        """The table's active files (URIs a DuckDB from `Storage.duckdb()` reads), at `version` or the latest.
        With a mirror: the latest version's files, as local copies."""
        if self.mirror is not None and self.storage.is_s3 and version is None:
            return self._mirror().files(table)
        dt = self.open(table, version)
        if dt is None:
            return []
        if self.storage.is_s3:
            return dt.file_uris()
        # delta-rs gives a local file as a URL path (a space as %20, '%' as %25): DuckDB wants the path itself
        return [unquote(u) for u in dt.file_uris()]

    def data_files(self, table: str, keep) -> list[str]:
        """The active files whose add action `keep` accepts, as paths DuckDB reads (local copies for a mirrored
        bucket lake)."""
        if self.mirror is not None and self.storage.is_s3:
            return self._mirror().files(table, keep)
        dt = self.open(table)
        if dt is None:
            return []
        base = self.storage.uri("lake", table)
        return [f"{base}/{a['path']}" for a in pa.table(dt.get_add_actions(flatten=True)).to_pylist() if keep(a)]

    def _mirror(self):
        from pipeline.lake.mirror import Mirror

        return Mirror(self, self.mirror)

    # ------------------------------------------------------------------ upkeep

    def _stale_writes(self, table: str, current: Mapping[str, str], cutoff_ms: float) -> dict[str, set[tuple[str, str]]]:
        """day -> (snapshot id, write id) of rows no current snapshots row names, in files older than the cutoff.
        Read from the log's file statistics; a file holding several writes (compacted) is read for its two key
        columns."""
        dt = self.open(table)
        if dt is None:
            return {}
        actions = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
        out: dict[str, set[tuple[str, str]]] = {}
        mixed = []
        for a in actions:
            if a["modification_time"] > cutoff_ms:
                continue
            day = a[f"partition.{PARTITION}"]
            lo, hi = (a.get("min.snapshot_id"), a.get("min.write_id")), (a.get("max.snapshot_id"), a.get("max.write_id"))
            if None not in lo and lo == hi:
                if lo[1] not in writes_of(current.get(lo[0], "")):
                    out.setdefault(day, set()).add(lo)
            else:
                mixed.append((day, a["path"]))
        if mixed:
            import pyarrow.dataset as ds

            fs = self.filesystem()
            base = self.storage.fs_path("lake", table)
            for day, path in mixed:
                keys = ds.dataset(f"{base}/{path}", format="parquet", filesystem=fs).to_table(columns=list(KEY))
                for sid, wid in set(zip(keys["snapshot_id"].to_pylist(), keys["write_id"].to_pylist())):
                    if wid not in writes_of(current.get(sid, "")):
                        out.setdefault(day, set()).add((sid, wid))
        return out

    def sweep(self, *, grace_s: float | None = None, tables: Iterable[str] | None = None,
              days: Iterable[str] | None = None) -> dict[str, int]:
        """Delete rows that no current snapshots row names (crashed or replaced writes) once their files are
        older than the grace period. Returns the rows deleted per table."""
        grace = self.grace_s if grace_s is None else grace_s
        cutoff_ms = (time.time() - grace) * 1000
        current = self.current_writes()
        wanted_days = None if days is None else {check_day(d) for d in days}
        deleted: dict[str, int] = {}
        for table in self.tables() if tables is None else tables:
            for day, pairs in sorted(self._stale_writes(table, current, cutoff_ms).items()):
                if wanted_days is not None and day not in wanted_days:
                    continue
                which = " OR ".join(f"(snapshot_id = {_quote(s)} AND write_id = {_quote(w)})" for s, w in sorted(pairs))
                metrics = self._retry(lambda: self.open(table).delete(
                    f"{PARTITION} = {_quote(day)} AND ({which})", writer_properties=WRITER))
                deleted[table] = deleted.get(table, 0) + int(metrics.get("num_deleted_rows") or 0)
        return deleted

    def optimize(self, day: str, *, target_size: int | None = None) -> dict[str, int]:
        """Compact one day: sweep what can be swept, then rewrite its files per table as few large ones.
        Returns files removed per table."""
        check_day(day)
        self.sweep(days=[day])
        out = {}
        for table in self.tables():
            metrics = self._retry(lambda: self.open(table).optimize.compact(
                partition_filters=[(PARTITION, "=", day)], target_size=target_size, writer_properties=WRITER))
            out[table] = int(metrics.get("numFilesRemoved") or 0)
        return out

    def vacuum(self, *, grace_s: float | None = None) -> dict[str, int]:
        """Delete files that no version of a table needs any more, once older than the grace period (a reader
        holding a file list keeps it valid that long), and expired log entries. Returns files deleted per table."""
        grace = self.grace_s if grace_s is None else grace_s
        out = {}
        for table in self.tables():
            dt = self.open(table)
            # full: also files no log version ever named (a writer killed between writing a file and its
            # commit); the retention keeps those of writers still at work.
            removed = dt.vacuum(retention_hours=math.ceil(grace / 3600), dry_run=False,
                                enforce_retention_duration=False, full=True)
            dt.cleanup_metadata()
            out[table] = len(removed)
        return out

    @staticmethod
    def _retry(action):
        """A commit (an append, a delete, a compaction) that lost a race with another writer's commit: do it
        again on the table as it is now. The files the lost attempt wrote are never referenced; vacuum removes
        them."""
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                return action()
            except CommitFailedError:
                if attempt == COMMIT_ATTEMPTS - 1:
                    raise
                time.sleep(min(2.0, 0.05 * 2 ** attempt) * (0.5 + random.random()))


def visible_select(files: list[str], snapshots: str, *, partition_type: str = "DATE") -> str:
    """A DuckDB SELECT over a table's files that keeps only rows of current writes: `snapshots` is a SELECT (or
    a view name) giving the current (snapshot_id, write_id) pairs, taken before the files were listed."""
    if not files:
        raise ValueError("no files")
    paths = ", ".join(_quote(f) for f in files)
    return (f"SELECT * EXCLUDE (write_id) FROM read_parquet([{paths}], hive_partitioning = true, "
            f"hive_types = {{'{PARTITION}': {partition_type}}}, union_by_name = true) "
            f"WHERE (snapshot_id, write_id) IN (SELECT snapshot_id, write_id FROM {snapshots})")
