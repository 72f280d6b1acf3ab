"""A lake in a bucket: what its local work folder and the bucket exchange.

The Delta tables are committed to the bucket directly (pipeline/lake/delta.py; read through local copies of their
immutable files, pipeline/lake/mirror.py). What else the pipeline keeps is written in the work folder by the same
code as for a local lake, then uploaded here, in an order that gives readers of the bucket the same guarantees:

- a raw set, once landing has sealed it, goes byte for byte to `raw/region=<R>/date=<D>/snapshot_id=<ID>/<WRITE>/`,
  before the snapshot's rows are committed: a committed snapshot's raw set is always in the bucket, and
  `renormalize` on another machine fetches it from there (`local_raw`);
- the history (`lake/_history/`): the files its record names first (immutable names), then `record.json`, one PUT,
  the commit point as the rename is on a disk. A work folder whose record is not the bucket's fetches the bucket's
  before folding (`pull_history`). Two writers that fold at once each publish a whole, consistent record; the
  later PUT wins and the next fold catches up from it;
- the daily report partitions (`lake/reports/<name>/day=<D>.parquet`), each replaced whole by one PUT;
- exported reports (spreadsheets, charts, the HTML page), when no other place is configured: `exports/`.

Why the history is not a Delta table: its record commits the state it folds from together with the rows of both
its tables; Delta commits one table at a time.
"""

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipeline.lake.layout import Layout, check_snapshot_id

log = logging.getLogger(__name__)

THREADS = 8
RECORD = "lake/_history/record.json"


def _rel(layout: Layout, path: Path) -> str:
    return path.relative_to(layout.root).as_posix()


def _upload(fs, local: Path, key: str) -> None:
    with open(local, "rb") as src, fs.open_output_stream(key) as out:
        while chunk := src.read(8 << 20):
            out.write(chunk)


def _download(fs, key: str, local: Path) -> None:
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_name(f".{local.name}.{os.getpid()}.part")
    try:
        with fs.open_input_stream(key) as src, open(tmp, "wb") as out:
            while chunk := src.read(8 << 20):
                out.write(chunk)
        os.replace(tmp, local)
    finally:
        tmp.unlink(missing_ok=True)


def _parallel(action, items) -> int:
    items = list(items)
    if items:
        with ThreadPoolExecutor(min(THREADS, len(items))) as pool:
            list(pool.map(action, items))
    return len(items)


def _listing(fs, prefix: str) -> dict[str, object]:
    """key -> FileInfo of every object under `prefix` (none when it does not exist)."""
    from pyarrow.fs import FileSelector, FileType

    infos = fs.get_file_info(FileSelector(prefix, recursive=True, allow_not_found=True))
    return {i.path: i for i in infos if i.type == FileType.File}


# ---------------------------------------------------------------------------------------------- raw sets


def raw_key_of(layout: Layout, raw_dir: Path) -> str:
    """A sealed raw set's key in the bucket: its region is the run's (run.json), `all` for a run of every region."""
    try:
        region = json.loads((raw_dir / "run.json").read_text(encoding="utf-8")).get("region")
    except (OSError, ValueError):
        region = None
    snapshot_id = check_snapshot_id(raw_dir.parent.name.removeprefix("snapshot_id="))
    return layout.raw_key(snapshot_id, raw_dir.name, region if isinstance(region, str) and region else "all")


def upload_raw(layout: Layout, raw_dir: Path) -> str:
    """Upload a sealed raw set (`lake/raw/snapshot_id=<ID>/<WRITE>/`) byte for byte; returns its key under the
    root. Files already there with the same size are skipped (a retried step)."""
    key = raw_key_of(layout, raw_dir)
    storage = layout.storage
    fs = storage.filesystem()
    base = storage.fs_path(key)
    there = {k: i.size for k, i in _listing(fs, base).items()}
    files = [p for p in sorted(raw_dir.rglob("*")) if p.is_file()]
    todo = [p for p in files if there.get(f"{base}/{p.relative_to(raw_dir).as_posix()}") != p.stat().st_size]
    _parallel(lambda p: _upload(fs, p, f"{base}/{p.relative_to(raw_dir).as_posix()}"), todo)
    return key


def local_raw(layout: Layout, raw: str) -> Path:
    """A committed snapshot's raw set as a local folder (its `raw_dir` as recorded): in a bucket lake, fetched
    into `lake/raw/` when this work folder does not have it."""
    if not layout.in_bucket or not raw.startswith("raw/"):
        return layout.root / raw
    parts = dict(p.split("=", 1) for p in raw.split("/")[1:-1] if "=" in p)
    local = layout.raw_dir(parts["snapshot_id"], raw.rsplit("/", 1)[-1])
    storage = layout.storage
    fs = storage.filesystem()
    base = storage.fs_path(raw)
    objects = _listing(fs, base)
    if not objects:
        raise FileNotFoundError(f"no raw set at {storage.uri(raw)}")
    copies = {k: local / k[len(base) + 1:] for k in objects}
    missing = [(k, path) for k, path in copies.items()
               if not (path.is_file() and path.stat().st_size == objects[k].size)]
    _parallel(lambda item: _download(fs, item[0], item[1]), missing)
    return local


# ---------------------------------------------------------------------------------------------- history


def _record_files(layout: Layout, record: dict) -> set[Path]:
    from pipeline.history.store import HistoryRecord

    return HistoryRecord(**record).referenced(layout.root)


def pull_history(layout: Layout) -> bool:
    """Make the work folder's history the bucket's, when the bucket has one and it differs. Returns whether
    anything was fetched."""
    from pipeline.history.store import record_path
    from pipeline.lake.store import _write_json

    fs = layout.storage.filesystem()
    key = layout.storage.fs_path(RECORD)
    try:
        with fs.open_input_stream(key) as src:
            remote = json.loads(src.read())
    except FileNotFoundError:
        return False
    local_path = record_path(layout)
    try:
        if json.loads(local_path.read_text(encoding="utf-8")) == remote:
            return False
    except (OSError, ValueError):
        pass
    needed = [p for p in _record_files(layout, remote) if not p.is_file()]
    _parallel(lambda p: _download(fs, layout.storage.fs_path(_rel(layout, p)), p), needed)
    layout.history.mkdir(parents=True, exist_ok=True)
    _write_json(local_path, layout.history / f".record.pull.{os.getpid()}.tmp", remote)
    log.info("history: fetched the bucket's record (%d file(s))", len(needed))
    return True


def push_history(layout: Layout) -> int:
    """Publish the work folder's history: the files its record names that the bucket lacks, then the record.
    Returns files uploaded."""
    from pipeline.history.store import record_path

    local_path = record_path(layout)
    try:
        record = json.loads(local_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    fs = layout.storage.filesystem()
    there = _listing(fs, layout.storage.fs_path("lake/_history"))
    todo = [p for p in sorted(_record_files(layout, record))
            if layout.storage.fs_path(_rel(layout, p)) not in there]
    _parallel(lambda p: _upload(fs, p, layout.storage.fs_path(_rel(layout, p))), todo)
    _upload(fs, local_path, layout.storage.fs_path(RECORD))  # last: the commit point
    return len(todo)


def collect_bucket_history(layout: Layout, grace_s: float) -> int:
    """Delete history objects the bucket's record does not need, once older than `grace_s`. Returns how many."""
    import time

    fs = layout.storage.filesystem()
    try:
        with fs.open_input_stream(layout.storage.fs_path(RECORD)) as src:
            record = json.loads(src.read())
    except FileNotFoundError:
        return 0
    keep = {layout.storage.fs_path(_rel(layout, p)) for p in _record_files(layout, record)}
    keep.add(layout.storage.fs_path(RECORD))
    now = time.time()
    old = [k for k, info in _listing(fs, layout.storage.fs_path("lake/_history")).items()
           if k not in keep and info.mtime is not None and now - info.mtime.timestamp() >= grace_s]
    _parallel(fs.delete_file, old)
    return len(old)


# ---------------------------------------------------------------------------------------------- reports


def push_reports(layout: Layout, files: list[Path]) -> int:
    """Upload report partitions the reports step wrote (each replaces the bucket's whole)."""
    fs = layout.storage.filesystem()

    def push(p: Path) -> None:
        key = layout.storage.fs_path(_rel(layout, p))
        _upload(fs, p, key)
        _stamp(p, fs.get_file_info(key))

    return _parallel(push, [p for p in files if p.is_file()])


def pull_reports(layout: Layout) -> int:
    """Fetch the report partitions the bucket has newer than the work folder's (or that it lacks)."""
    fs = layout.storage.filesystem()
    base = layout.storage.fs_path("lake/reports")
    todo = []
    for key, info in _listing(fs, base).items():
        local = layout.lake / "reports" / key[len(base) + 1:]
        try:
            st = local.stat()
            if st.st_size == info.size and st.st_mtime >= info.mtime.timestamp():
                continue
        except FileNotFoundError:
            pass
        todo.append((key, local, info))

    def pull(item) -> None:
        key, local, info = item
        _download(fs, key, local)
        _stamp(local, info)

    return _parallel(pull, todo)


def _stamp(local: Path, info) -> None:
    """Give the local copy the object's time: a copy is current when its time is not older than the object's."""
    if info.mtime is not None:
        t = info.mtime.timestamp()
        os.utime(local, (t, t))


def push_exports(layout: Layout, folder: Path, files: list[Path]) -> int:
    """Upload exported report files written under `folder` to `exports/` in the bucket, same relative names."""
    fs = layout.storage.filesystem()
    todo = [p for p in files if p.is_file()]
    _parallel(lambda p: _upload(fs, p, layout.storage.fs_path("exports", p.relative_to(folder).as_posix())), todo)
    return len(todo)
