"""Committing snapshots to the lake: atomic visibility, idempotent replacement, one writer, crash debris cleanup.

The commit point of a snapshot is the rename of its manifest into `lake/_manifests/<ID>.json`. Table files are
moved into their final folders first, under names no manifest references yet, so until that rename nothing
new is visible; after it, everything is. Re-running a snapshot id writes new files and a new manifest that
replaces the old one: the old files become garbage, removed later (after a grace period, because a reader may
still hold a catalog that points at them).
"""

import errno
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pipeline.lake.durable import fsync_dir
from pipeline.lake.layout import Layout, check_snapshot_id

GRACE_S = 600.0


class LakeBusyError(RuntimeError):
    """Another process holds the lake's writer lock."""


@contextmanager
def writer_lock(layout: Layout, wait_s: float = 0.0) -> Iterator[None]:
    """One writer per storage root. Waits up to `wait_s`, then raises LakeBusyError with a clear message.

    flock is released by the kernel when the holder dies, so a kill -9 never leaves the lake locked.
    """
    layout.ensure()
    fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                    raise LakeBusyError(
                        f"another poolscope process (pid {holder}) is writing to {layout.root}; "
                        f"waited {wait_s:.0f}s. Try again when it has finished."
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor drops the lock


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
    tables: dict[str, dict] = {}
    for table, src in sorted(table_files.items()):
        dest = layout.table_file(table, snapshot_id, write_id)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)
        tables[table] = {"file": str(dest.relative_to(layout.root)), "rows": int(rows.get(table, 0))}
    for parent in {layout.table_file(t, snapshot_id, write_id).parent for t in table_files}:
        fsync_dir(parent)
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
    final = layout.manifest(snapshot_id)
    tmp = layout.manifests / f".{snapshot_id}.{write_id}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(manifest.__dict__, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    fsync_dir(layout.manifests)
    return manifest


def read_manifests(layout: Layout) -> list[Manifest]:
    """Committed snapshots, oldest first. A manifest that cannot be read is skipped, never fatal."""
    out = []
    if not layout.manifests.is_dir():
        return out
    for path in sorted(layout.manifests.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            out.append(Manifest(**data))
        except (OSError, ValueError, TypeError):
            continue
    return out


def _owner_alive(name: str) -> bool:
    match = re.search(r"-p(\d+)$", name)
    if not match:
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return False  # ours, from an earlier run in this process that did not finish: debris too
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collect_garbage(layout: Layout, grace_s: float = GRACE_S) -> dict[str, int]:
    """Remove crash debris and replaced files. Call only while holding the writer lock.

    - entries of `_tmp/` whose creating process (the `-p<pid>` suffix) is gone: a live process may be
      landing or staging there without the lock, which it only takes to commit;
    - table files that no manifest references, once older than `grace_s` (a reader's catalog may still
      point at a replaced snapshot's files for a while).
    Raw sets are never deleted: they are the source of truth.
    """
    removed = {"tmp": 0, "table_files": 0}
    if layout.tmp.is_dir():
        for entry in layout.tmp.iterdir():
            if _owner_alive(entry.name):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed["tmp"] += 1
    for entry in layout.manifests.glob(".*.tmp") if layout.manifests.is_dir() else []:
        entry.unlink(missing_ok=True)
        removed["tmp"] += 1
    referenced = {
        (layout.root / info["file"]).resolve()
        for m in read_manifests(layout)
        for info in m.tables.values()
    }
    now = time.time()
    skip = {layout.raw.name, layout.manifests.name, layout.tmp.name}
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
