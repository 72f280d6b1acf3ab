"""Where export files go, and how they appear there: only inside the output folder, and all at once."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.lake.durable import fsync_dir

# Export file names are built by this package from validated report names; this is the last check
# before the filesystem, so a bug upstream still cannot name a path elsewhere.
_FILE_NAME = re.compile(r"[a-z0-9_-]{1,80}\.(csv|xlsx|html)")


def prepare_dir(out_dir: Path | str) -> Path:
    """The output folder, created if missing, as an absolute path with symlinks resolved."""
    path = Path(out_dir)
    if "\x00" in str(path):
        raise ValueError("output directory contains a NUL character")
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve(strict=True)


def target_path(out_dir: Path, file_name: str) -> Path:
    """`out_dir/file_name`, or ValueError if the name could place the file anywhere but directly in out_dir.

    The final component is deliberately not resolved: if it is a symlink, os.replace swaps the link
    itself for the new file and never writes through it to wherever it points.
    """
    if _FILE_NAME.fullmatch(file_name) is None:
        raise ValueError(f"unsafe export file name {file_name!r}")
    target = out_dir / file_name
    if Path(os.path.abspath(target)).parent != out_dir:
        raise ValueError(f"export file {file_name!r} would leave {out_dir}")
    return target


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path next to `target` to write to; renamed over `target` only if the block succeeds.

    Readers (a mail job, a file share) see either the previous complete file or the new complete one.
    The temporary file is created with O_EXCL (no pre-planted file or link is followed) and normal
    permissions, so the published file is as readable as any other file the process creates.
    """
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
