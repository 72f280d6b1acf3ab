"""Free space: the check at the start of a write, and telling a full disk from other storage errors.

A full disk shows up as an OSError (ENOSPC, or EDQUOT for a quota) from Python's own writes, and as a DuckDB
IO or fatal error whose text carries the same strerror from DuckDB's writes (Parquet files, the catalog).
"""

import errno
import os
import re
from pathlib import Path

import duckdb

MIB = 1024 * 1024
_NO_SPACE = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}
_NO_SPACE_TEXT = ("No space left on device", "Disk quota exceeded")
_QUOTED_PATH = re.compile(r'"([^"]+)"')


class StorageFullError(RuntimeError):
    """Too little space to write: below `storage.min_free_mb` at the start, or the disk filled up before the
    commit. Nothing was committed."""


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def check_free_space(root: Path, min_free_mb: float) -> None:
    """Raise StorageFullError when the file system of `root` has less than `min_free_mb` MiB free."""
    if min_free_mb <= 0:
        return
    free = free_bytes(root)
    if free < min_free_mb * MIB:
        raise StorageFullError(
            f"storage {root}: {free / MIB:.1f} MiB free, below storage.min_free_mb ({min_free_mb:g} MiB); "
            f"nothing written. Free some space, or lower storage.min_free_mb")


def no_space(exc: BaseException) -> str | None:
    """'no space left on device (<path>)' when `exc` (or one it groups) is a full disk, else None."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            reason = no_space(inner)
            if reason:
                return reason
        return None
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
        what = _NO_SPACE[exc.errno]
        return f"{what} ({exc.filename})" if exc.filename else what
    if isinstance(exc, (OSError, duckdb.Error)):
        text = str(exc)
        for marker in _NO_SPACE_TEXT:
            if marker in text:
                path = _QUOTED_PATH.search(text)
                return f"{marker.lower()} ({path.group(1)})" if path else marker.lower()
    return None
