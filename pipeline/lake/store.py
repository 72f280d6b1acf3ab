"""Committing to the lake: atomic visibility, idempotent replacement, one writer, crash debris cleanup.

The commit point of a snapshot is the rename of its manifest into `lake/_manifests/<ID>.json`. Table files are
moved into their final folders first, under names no manifest references yet, so until that rename nothing
new is visible; after it, everything is. Re-running a snapshot id writes new files and a new manifest that
replaces the old one: the old files become garbage, removed later (after a grace period, because a reader may
still hold a catalog that points at them).

Compaction (pipeline/lake/compaction.py) rewrites a day's snapshot files as one file per table and commits
them with a day record, `lake/_days/<D>.json`, naming the snapshots (id and write id) whose rows it holds.
`live_files` is the single reading of both kinds of record: a snapshot is read from its day's compacted file
while the record covers its current write, from its own files otherwise (a snapshot taken or re-run after the
compaction), and a compacted file's rows of a since-replaced write are filtered out. So a record can go stale
but never wrong, and each commit is still one rename.
"""

import errno
import fcntl
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pipeline.lake.durable import fsync_dir
from pipeline.lake.layout import Layout, check_day, check_snapshot_id
from pipeline.lake.lease import (
    RECORD_BYTES, Lease, entry_alive, hold_lock_lease, host_id, lease_alive, release_lock_lease,
)

GRACE_S = 600.0


class LakeBusyError(RuntimeError):
    """Another process holds the lake's writer lock."""


@contextmanager
def writer_lock(layout: Layout, wait_s: float = 0.0, *, for_steps: bool = False) -> Iterator[None]:
    """One writer per storage root. Waits up to `wait_s`, then raises LakeBusyError with a clear message.

    flock is released by the kernel when the holder dies, so a kill -9 never leaves the lake locked. The
    holder also keeps its lease (pipeline/lake/lease.py) in the lock file: flock does not reach across hosts on
    every shared file system, so a fresh lease of a writer on another host counts as held too. A stale one
    (a crashed host's, or a dead local pid's) is taken over.

    `for_steps`: the steps this thread runs while holding it (a Dagster run in process) take it again at once.
    """
    layout.ensure()
    key = os.path.realpath(layout.lock)
    held = _held_locks()
    if key in held:
        # Taken `for_steps` by this thread: `poolscope snapshot` holds the lock around its whole in-process Dagster
        # run (pipeline/runner.py), whose steps take it again, as they must when Dagster runs them on its own.
        yield
        return
    fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    token = None
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                holder = _remote_holder(fd)
                if holder is None:
                    break
                fcntl.flock(fd, fcntl.LOCK_UN)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                holder = Lease.decode(os.pread(fd, RECORD_BYTES, 0))
            if time.monotonic() >= deadline:
                who = holder.describe() if holder is not None else "pid unknown"
                raise LakeBusyError(
                    f"another poolscope process ({who}) is writing to {layout.root}; "
                    f"waited {wait_s:.0f}s. Try again when it has finished."
                ) from None
            time.sleep(0.2)
        token = hold_lock_lease(fd)
        if for_steps:
            held.add(key)
        try:
            yield
        finally:
            held.discard(key)
    finally:
        if token is not None:
            release_lock_lease(fd, token)
        os.close(fd)  # closing the descriptor drops the lock


_THREAD = threading.local()


def _held_locks() -> set[str]:
    """The writer locks this thread holds (real paths of their lock files)."""
    if not hasattr(_THREAD, "held"):
        _THREAD.held = set()
    return _THREAD.held


def _remote_holder(fd: int) -> Lease | None:
    """The lease in the lock file when it is a live writer's on another host (a local writer holds the flock)."""
    lease = Lease.decode(os.pread(fd, RECORD_BYTES, 0))
    if lease is None or lease.host_id == host_id() or not lease_alive(lease):
        return None
    return lease


@dataclass(frozen=True)
class Manifest:
    snapshot_id: str
    write_id: str
    snapshot_at: str
    status: str
    raw_dir: str  # relative to the storage root
    tables: dict[str, dict]  # table -> {"file": path relative to the root, "rows": int}
    committed_at: str
    checks: dict[str, bool] = field(default_factory=dict)  # data check -> passed, when the snapshot was staged

    def files(self, root: Path) -> dict[str, Path]:
        return {t: root / info["file"] for t, info in self.tables.items()}


def commit(
    layout: Layout,
    *,
    snapshot_id: str,
    write_id: str,
    snapshot_at: datetime,
    status: str,
    raw_dir: Path,
    table_files: dict[str, Path],
    rows: dict[str, int],
    checks: dict[str, bool] | None = None,
) -> Manifest:
    """Move freshly written table files into the lake and publish the manifest (the commit point)."""
    check_snapshot_id(snapshot_id)
    previous = layout.manifest(snapshot_id)
    if previous.exists():  # a re-run: the replaced write's files start their grace period now
        try:
            _mark_replaced(Manifest(**json.loads(previous.read_text(encoding="utf-8"))).files(layout.root).values())
        except (OSError, ValueError, TypeError):
            pass
    tables = _move_in(layout, table_files, rows, lambda t: layout.table_file(t, snapshot_id, write_id))
    manifest = Manifest(
        snapshot_id=snapshot_id,
        write_id=write_id,
        snapshot_at=snapshot_at.astimezone(timezone.utc).isoformat(),
        status=status,
        raw_dir=str(raw_dir.relative_to(layout.root)),
        tables=tables,
        committed_at=datetime.now(timezone.utc).isoformat(),
        checks=dict(checks or {}),
    )
    _write_json(layout.manifest(snapshot_id), layout.manifests / f".{snapshot_id}.{write_id}.tmp",
                manifest.__dict__)
    return manifest


def _move_in(layout: Layout, table_files: Mapping[str, Path], rows: Mapping[str, int],
             dest_of: Callable[[str], Path]) -> dict[str, dict]:
    """Move written table files to their final names (which no record references yet) and make the moves
    durable. Returns the record's `tables`: table -> {"file": path relative to the root, "rows": n}."""
    tables: dict[str, dict] = {}
    for table, src in sorted(table_files.items()):
        dest = dest_of(table)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)
        tables[table] = {"file": str(dest.relative_to(layout.root)), "rows": int(rows.get(table, 0))}
    for parent in {dest_of(t).parent for t in table_files}:
        fsync_dir(parent)
    return tables


def _write_json(final: Path, tmp: Path, data: dict) -> None:
    """Durably replace `final` with `data`: write + fsync a temporary sibling, rename, fsync the folder."""
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)


def _read_records(folder: Path, kind: type) -> list:
    """Every `<name>.json` record in `folder` as `kind`, in name order. One that cannot be read is skipped,
    never fatal: records are written whole and renamed into place, so only outside damage makes one."""
    out = []
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        try:
            out.append(kind(**json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue
    return out


def read_manifests(layout: Layout) -> list[Manifest]:
    """Committed snapshots, oldest first."""
    return _read_records(layout.manifests, Manifest)


@dataclass(frozen=True)
class DayRecord:
    """The commit record of a compacted day."""

    day: str
    write_id: str
    snapshots: dict[str, str]  # snapshot id -> the write id whose rows the compacted files hold
    tables: dict[str, dict]  # table -> {"file": path relative to the root, "rows": int}
    compacted_at: str


def _mark_replaced(files: Iterable[Path]) -> None:
    """Stamp files about to be replaced with the current time: garbage collection's grace period counts from
    a file's mtime, and must count from when the file stopped being live, not from when it was written (a
    compacted day's snapshot files are hours old). Done before the commit point: if the commit never
    happens, the files simply stay live."""
    now = time.time()
    for f in files:
        try:
            os.utime(f, (now, now))
        except FileNotFoundError:
            pass


def commit_day(layout: Layout, *, day: str, write_id: str, snapshots: Mapping[str, str],
               table_files: dict[str, Path], rows: Mapping[str, int], replaces: Iterable[Path] = ()) -> DayRecord:
    """Move a day's compacted files into the lake and publish its record (the commit point). `replaces`: the
    files the day was read from until now."""
    check_day(day)
    _mark_replaced(replaces)
    tables = _move_in(layout, table_files, rows, lambda t: layout.compacted_file(t, day, write_id))
    record = DayRecord(day=day, write_id=write_id, snapshots=dict(sorted(snapshots.items())), tables=tables,
                       compacted_at=datetime.now(timezone.utc).isoformat())
    layout.day_records.mkdir(parents=True, exist_ok=True)
    _write_json(layout.day_record(day), layout.day_records / f".{day}.{write_id}.tmp", record.__dict__)
    return record


def read_day_records(layout: Layout) -> list[DayRecord]:
    """Compacted days, oldest first (a day whose record cannot be read is read from its snapshots' files)."""
    return _read_records(layout.day_records, DayRecord)


@dataclass(frozen=True)
class LiveFile:
    """A committed table file and the snapshots whose rows in it are stale (replaced by a later write)."""

    path: Path
    exclude: tuple[str, ...] = ()


def live_files(layout: Layout, manifests: list[Manifest] | None = None,
               records: list[DayRecord] | None = None) -> dict[str, list[LiveFile]]:
    """table -> the files holding the committed rows of every snapshot, each row exactly once, in time order."""
    current = {m.snapshot_id: m for m in (read_manifests(layout) if manifests is None else manifests)}
    records = read_day_records(layout) if records is None else records
    entries: list[tuple[str, str, LiveFile]] = []  # (time-order key, table, file)
    covered: set[str] = set()
    for rec in records:
        live = {sid for sid, w in rec.snapshots.items() if sid in current and current[sid].write_id == w}
        if not live:
            continue
        covered |= live
        stale = tuple(sorted(set(rec.snapshots) - live))
        for table, info in rec.tables.items():
            entries.append((min(live), table, LiveFile(layout.root / info["file"], stale)))
    for sid, m in current.items():
        if sid in covered:
            continue
        for table, info in m.tables.items():
            entries.append((sid, table, LiveFile(layout.root / info["file"])))
    out: dict[str, list[LiveFile]] = {}
    for _, table, f in sorted(entries, key=lambda e: e[0]):
        out.setdefault(table, []).append(f)
    return out


def clean_debris(layout: Layout) -> int:
    """Remove what crashed or failed runs left behind, and return how many entries: `_tmp/` entries that no
    live writer owns (judged by their lease, see pipeline/lake/lease.py), half-written records and half-written
    catalogs. Call only while holding the writer lock (catalogs are only built under it)."""
    removed = 0
    if layout.tmp.is_dir():
        for entry in layout.tmp.iterdir():
            if entry_alive(entry):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
    for folder in (layout.manifests, layout.day_records):
        for entry in folder.glob(".*.tmp") if folder.is_dir() else []:
            entry.unlink(missing_ok=True)
            removed += 1
    for entry in layout.root.glob(".inventory.*.duckdb.tmp*") if layout.root.is_dir() else []:
        entry.unlink(missing_ok=True)
        removed += 1
    return removed


def collect_garbage(layout: Layout, grace_s: float = GRACE_S) -> dict[str, int]:
    """Remove crash debris and replaced files. Call only while holding the writer lock.

    - crash debris (`clean_debris`): entries of `_tmp/` whose owner's lease is stale (a live process, here or
      on another host, may be landing or staging there without the lock, which it only takes to commit),
      half-written records and catalogs;
    - table files that are not live (replaced snapshots' files, and snapshot files a compacted day now
      holds), once older than `grace_s`: a reader's catalog may still point at them for a while.
    Raw sets are never deleted: they are the source of truth.
    """
    removed = {"tmp": clean_debris(layout), "table_files": 0}
    referenced = {f.path.resolve() for files in live_files(layout).values() for f in files}
    now = time.time()
    skip = {layout.raw.name, layout.manifests.name, layout.day_records.name, layout.tmp.name}
    for table_dir in layout.lake.iterdir() if layout.lake.is_dir() else []:
        if not table_dir.is_dir() or table_dir.name in skip:
            continue
        for f in table_dir.glob("snapshot_day=*/*.parquet"):
            if f.resolve() in referenced:
                continue
            try:
                if now - f.stat().st_mtime >= grace_s:
                    f.unlink()
                    removed["table_files"] += 1
            except FileNotFoundError:
                pass
    return removed
