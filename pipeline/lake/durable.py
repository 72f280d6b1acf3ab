"""Durable renames: the lake's commit points are renames, and a rename is only durable once its folder is
synced. Shared by the landing, the commit protocol and the report files."""

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """fsync a folder, making renames into it durable. A platform that cannot open folders is let be."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
