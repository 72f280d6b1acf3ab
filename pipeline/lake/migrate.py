"""`poolscope migrate`: a lake of the folder protocol (manifests, day records) copied into Delta tables
(pipeline/lake/delta.py) at another root, a local folder or a bucket, then checked row for row.

A day at a time: every table's rows of the day's committed snapshots (compacted day files and snapshot files
alike, read as the old catalog read them, pipeline/lake/folder_format.py, so a replaced write's rows stay
behind) are appended in one commit per table, each row keeping its snapshot's write id, and the day's `snapshots` rows are
committed last (DeltaLake.commit_day): a migration stopped half way shows whole days only, and a second run
skips the days whose snapshots are already there with the same write ids. The raw sets are copied byte for byte
to the same place under the new root (`lake/raw/snapshot_id=<ID>/<WRITE>/`), skipping files already there with
the same size.

The check: per table and snapshot, the rows the old lake shows and the rows the new one shows; any difference
is listed and the command fails. The old lake is not changed.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.catalog.views import delta_sources
from pipeline.lake.delta import SNAPSHOTS, DeltaLake
from pipeline.lake.folder_format import live_files, read_manifests, select_files
from pipeline.lake.layout import Layout, day_of
from pipeline.lake.store import _commit_record
from pipeline.sqlfiles import quote_ident

OnDay = Callable[[str, int, int], None]


class MigrationError(RuntimeError):
    """The migration cannot start (the message says why)."""


@dataclass
class MigrationResult:
    days: list[str] = field(default_factory=list)  # days committed now
    skipped: list[str] = field(default_factory=list)  # days already in the new lake with the same writes
    snapshots: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # rows committed now, per table
    raw_files: int = 0  # raw files copied now
    raw_bytes: int = 0
    checked: dict[str, int] = field(default_factory=dict)  # rows compared per table (old = new)
    mismatches: list[str] = field(default_factory=list)  # "table snapshot: old n, new m"
    seconds: float = 0.0


def migrate(layout: Layout, target: DeltaLake, *, raw: bool = True, on_day: OnDay | None = None) -> MigrationResult:
    """Copy the committed lake at `layout` into `target`, then compare row counts per table and snapshot."""
    started = time.monotonic()
    if not target.storage.is_s3 and _same_folder(layout.root, target.storage.local):
        raise MigrationError(f"the new lake must be at another root than the old one ({layout.root}); point "
                             "storage.root at the new one once it is checked")
    result = MigrationResult()
    manifests = read_manifests(layout)
    files = live_files(layout, manifests)
    by_id = {m.snapshot_id: m for m in manifests}
    by_day: dict[str, dict[str, str]] = {}
    for m in manifests:
        by_day.setdefault(day_of(m.snapshot_id), {})[m.snapshot_id] = m.write_id
    current = target.current_writes()
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")
    try:
        for n, (day, writes) in enumerate(sorted(by_day.items()), 1):
            if all(current.get(sid) == wid for sid, wid in writes.items()):
                result.skipped.append(day)
            else:
                tables = _day_rows(con, files, day, writes)
                snapshot_rows = tables.pop(SNAPSHOTS, None)
                if snapshot_rows is not None:
                    snapshot_rows = _with_commit_records(snapshot_rows, by_id)
                if snapshot_rows is None or snapshot_rows.num_rows != len(writes):
                    raise MigrationError(f"{day}: the old lake's snapshots table lacks rows of "
                                         f"{len(writes) - (snapshot_rows.num_rows if snapshot_rows else 0)} "
                                         "committed snapshot(s); run `poolscope renormalize` on them first")
                for table, count in target.commit_day(day, tables, snapshot_rows).items():
                    result.rows[table] = result.rows.get(table, 0) + count
                result.days.append(day)
                result.snapshots += len(writes)
            if on_day:
                on_day(day, n, len(by_day))
        if raw:
            result.raw_files, result.raw_bytes = _copy_raw(layout, target)
        _check(con, files, target, result)
    finally:
        con.close()
    result.seconds = time.monotonic() - started
    return result


def _same_folder(a: Path, b: Path | None) -> bool:
    return b is not None and a.resolve() == b.resolve()


def _with_commit_records(rows: pa.Table, manifests) -> pa.Table:
    """The snapshots rows with the commit record each snapshot's manifest held (pipeline/lake/store.py)."""
    records = []
    for sid in rows["snapshot_id"].to_pylist():
        m = manifests[sid]
        records.append(_commit_record(m.raw_dir, {t: info.get("rows", 0) for t, info in m.tables.items()},
                                      m.checks, m.committed_at))
    if "commit_record" in rows.column_names:
        rows = rows.drop_columns(["commit_record"])
    return rows.append_column("commit_record", pa.array(records, pa.string()))


def _day_rows(con: duckdb.DuckDBPyConnection, files, day: str, writes: dict[str, str]) -> dict[str, pa.Table]:
    """table -> the rows of `writes`' snapshots on `day`, each with the write id of its snapshot."""
    con.register("day_writes", pa.table({"snapshot_id": list(writes), "write_id": list(writes.values())}))
    out = {}
    try:
        for table, live in files.items():
            of_day = [f for f in live if f.path.parent.name == f"snapshot_day={day}"]
            if not of_day:
                continue
            rows = con.sql(f"SELECT t.*, w.write_id FROM ({select_files(of_day)}) AS t "
                           "JOIN day_writes AS w USING (snapshot_id)").to_arrow_table()
            if rows.num_rows:
                out[table] = rows
    finally:
        con.unregister("day_writes")
    return out


def _copy_raw(layout: Layout, target: DeltaLake) -> tuple[int, int]:
    """Copy every sealed raw set (a replaced write's too: raw sets are the record of what the API answered, and
    are never deleted), byte for byte, to the same relative place under the new root."""
    from pyarrow import fs as pafs

    dest_fs = target.filesystem()
    copied = size = 0
    if layout.raw.is_dir():
        for path in sorted(p for p in layout.raw.rglob("*") if p.is_file()):
            dest = target.storage.fs_path(path.relative_to(layout.root).as_posix())
            info = dest_fs.get_file_info(dest)
            if info.type == pafs.FileType.File and info.size == path.stat().st_size:
                continue
            if not target.storage.is_s3:
                Path(dest).parent.mkdir(parents=True, exist_ok=True)
            pafs.copy_files(str(path), dest, source_filesystem=pafs.LocalFileSystem(),
                            destination_filesystem=dest_fs)
            copied += 1
            size += path.stat().st_size
    return copied, size


def _check(con: duckdb.DuckDBPyConnection, files, target: DeltaLake, result: MigrationResult) -> None:
    """Rows per table and snapshot, old lake against new; differences go to result.mismatches."""
    new_sources = delta_sources(target)
    reader = target.connect()
    try:
        for table, live in sorted(files.items()):
            old = dict(con.sql(f"SELECT snapshot_id, count(*) FROM ({select_files(live)}) GROUP BY ALL").fetchall())
            new = {}
            if table in new_sources:
                new = dict(reader.sql(f"SELECT snapshot_id, count(*) FROM ({new_sources[table]}) AS {quote_ident(table)} "
                                      "GROUP BY ALL").fetchall())
            for sid in sorted(set(old) | set(new)):
                if old.get(sid, 0) != new.get(sid, 0):
                    result.mismatches.append(f"{table} {sid}: old {old.get(sid, 0)}, new {new.get(sid, 0)}")
            result.checked[table] = sum(old.values())
    finally:
        reader.close()

