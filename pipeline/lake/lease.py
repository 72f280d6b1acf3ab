"""Leases: who owns a working folder of `_tmp/` or the writer lock, written so that another host can judge it.

A process id means something only inside its own PID namespace: a CLI run in another container or on
another host that shares the storage cannot tell a live writer from a dead one by its pid, and would delete
live work. So every owner writes a lease:

    {"host": <hostname>, "host_id": <id>, "pid": <pid>, "heartbeat_at": <unix time>}

in `<working folder>/.lease` (and in the lock file, `lake/.lock`), and a heartbeat thread rewrites it every
HEARTBEAT_S seconds while the folder (or the lock) is in use. A judge decides:

- same host id (same kernel boot, same PID namespace, same hostname): alive while the pid runs; a dead pid is
  stale at once. A judge's own pid: alive while this process still holds the lease (a folder left by an
  earlier, failed step of the same process is debris);
- another host id: alive while its heartbeat is younger than LEASE_TIMEOUT_S (so hosts' clocks must agree to
  well within that; NTP does).

A folder without a readable lease (created a moment ago, or left by an older version) is judged by its name,
`<kind>-...-h<host tag>-p<pid>` (or the older `-p<pid>`), and, for another host, by the folder's mtime.

The lease is a fixed-size record rewritten in place, so refreshing it never allocates space: a full disk
cannot stop a heartbeat.
"""

import errno
import hashlib
import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

LEASE_FILE = ".lease"
LEASE_TIMEOUT_S = 120.0  # another host's work is stale once its heartbeat is this old
HEARTBEAT_S = 10.0  # how often an owner rewrites its leases
RECORD_BYTES = 512  # leases are padded to this size and rewritten in place
_NAME = re.compile(r"(?:-h(?P<tag>[0-9a-f]{12}))?-p(?P<pid>\d+)$")


@cache
def host_id() -> str:
    """This process's host, as far as pids are concerned: hostname, kernel boot id and PID namespace."""
    parts = [socket.gethostname()]
    for source in ("/proc/sys/kernel/random/boot_id",):
        try:
            parts.append(Path(source).read_text().strip())
        except OSError:
            parts.append("")
    try:
        parts.append(os.readlink("/proc/self/ns/pid"))
    except OSError:
        parts.append("")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def host_tag() -> str:
    """The short form of host_id() that working folders carry in their names."""
    return host_id()[:12]


@dataclass(frozen=True)
class Lease:
    host: str
    host_id: str
    pid: int
    heartbeat_at: float  # unix time of the owner's latest heartbeat

    def encode(self) -> bytes:
        data = json.dumps(asdict(self), separators=(",", ":")).encode()
        return data.ljust(RECORD_BYTES)[:RECORD_BYTES]

    @classmethod
    def decode(cls, data: bytes) -> "Lease | None":
        try:
            raw = json.loads(data.decode("utf-8").strip())
            return cls(host=str(raw["host"]), host_id=str(raw["host_id"]), pid=int(raw["pid"]),
                       heartbeat_at=float(raw["heartbeat_at"]))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None

    def describe(self) -> str:
        return f"host {self.host}, pid {self.pid}"


def mine(now: float | None = None) -> Lease:
    return Lease(host=socket.gethostname(), host_id=host_id(), pid=os.getpid(),
                 heartbeat_at=time.time() if now is None else now)


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_alive(lease: Lease, *, now: float | None = None, timeout_s: float = LEASE_TIMEOUT_S,
                held_here: bool = False) -> bool:
    """Whether the lease's owner may still be working. `held_here`: this process holds the lease now (only
    asked when the lease names this very process)."""
    if lease.host_id == host_id():
        if lease.pid == os.getpid():
            return held_here
        return pid_alive(lease.pid)
    return (time.time() if now is None else now) - lease.heartbeat_at < timeout_s


# ---------------------------------------------------------------------------------------------- heartbeat


class _Heartbeat:
    """Rewrites every lease this process holds, every HEARTBEAT_S seconds, on one daemon thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.writers: dict[int, tuple[Callable[[bytes], None], Path | None]] = {}  # token -> (write, folder)
        self.folders: set[Path] = set()  # absolute paths of the working folders held
        self.interval = HEARTBEAT_S
        self._next = 0
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def hold(self, write: Callable[[bytes], None], folder: Path | None = None) -> int:
        """Write a fresh lease with `write(record)` now, and again on every beat until released."""
        write(mine().encode())
        folder = _absolute(folder) if folder is not None else None
        with self.lock:
            self._next += 1
            token = self._next
            self.writers[token] = (write, folder)
            if folder is not None:
                self.folders.add(folder)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="poolscope-lease-heartbeat", daemon=True)
                self._thread.start()
        return token

    def release(self, token: int) -> None:
        # Under the lock: once this returns, no beat writes this lease again.
        with self.lock:
            entry = self.writers.pop(token, None)
            if entry is not None and entry[1] is not None:
                self.folders.discard(entry[1])

    def holds(self, folder: Path) -> bool:
        with self.lock:
            return _absolute(folder) in self.folders

    def beat(self) -> None:
        with self.lock:
            record = mine().encode()
            for write, _ in list(self.writers.values()):
                try:
                    write(record)
                except OSError:
                    pass  # a folder removed under us, or a storage hiccup: the next beat tries again

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.beat()

    def set_interval(self, seconds: float) -> None:
        self.interval = seconds
        self._wake.set()

    def reset_after_fork(self) -> None:
        # A forked child holds none of its parent's leases, and has no heartbeat thread.
        self.lock = threading.Lock()
        self.writers, self.folders, self._thread = {}, set(), None
        self._wake = threading.Event()


HEARTBEAT = _Heartbeat()

# ---------------------------------------------------------------------------------------------- folders

_FOLDER_TOKENS: dict[Path, int] = {}
_FOLDER_TOKENS_LOCK = threading.Lock()


def _after_fork_in_child() -> None:
    global _FOLDER_TOKENS_LOCK
    HEARTBEAT.reset_after_fork()
    _FOLDER_TOKENS.clear()
    _FOLDER_TOKENS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _write_in_place(path: Path):
    # O_CREAT is harmless on a beat: a released lease is never written again, and in a removed folder the
    # open fails (ENOENT), which the heartbeat ignores.
    def write(record: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, record, 0)
        finally:
            os.close(fd)
    return write


def work_dir(tmp: Path, prefix: str) -> Path:
    """Create `tmp/<prefix>-h<host tag>-p<pid>/` holding a lease, kept fresh until `release(path)`."""
    path = tmp / f"{prefix}-h{host_tag()}-p{os.getpid()}"
    path.mkdir(parents=True)
    try:
        token = HEARTBEAT.hold(_write_in_place(path / LEASE_FILE), folder=path)
    except BaseException:
        try:
            os.rmdir(path)
        except OSError:
            pass
        raise
    with _FOLDER_TOKENS_LOCK:
        _FOLDER_TOKENS[path] = token
    return path


def release(path: Path) -> None:
    """Stop refreshing the folder's lease and remove the lease file (before the folder is renamed into the
    lake or deleted). Idempotent."""
    with _FOLDER_TOKENS_LOCK:
        token = _FOLDER_TOKENS.pop(path, None)
    if token is not None:
        HEARTBEAT.release(token)
    try:
        (path / LEASE_FILE).unlink()
    except OSError:
        pass


def discard(path: Path) -> None:
    """Remove a working folder of ours: its lease first, so that no heartbeat writes into it meanwhile."""
    release(path)
    shutil.rmtree(path, ignore_errors=True)


def read_lease(path: Path) -> Lease | None:
    try:
        with open(path, "rb") as fh:
            return Lease.decode(fh.read(RECORD_BYTES))
    except OSError:
        return None


def entry_alive(entry: Path, *, now: float | None = None, timeout_s: float = LEASE_TIMEOUT_S) -> bool:
    """Whether an entry of `_tmp/` may belong to a live writer (see the module docstring for the rules)."""
    now = time.time() if now is None else now
    lease = read_lease(entry / LEASE_FILE) if entry.is_dir() and not entry.is_symlink() else None
    if lease is not None:
        return lease_alive(lease, now=now, timeout_s=timeout_s, held_here=HEARTBEAT.holds(entry))
    match = _NAME.search(entry.name)
    if not match:
        return False
    pid, tag = int(match.group("pid")), match.group("tag")
    if tag is None or tag == host_tag():
        if pid == os.getpid():
            return HEARTBEAT.holds(entry)
        return pid_alive(pid)
    # Another host, and no lease (yet, or any more): its folder's age stands in for the heartbeat.
    try:
        age = now - entry.lstat().st_mtime
    except FileNotFoundError:
        return False
    return age < timeout_s


# ---------------------------------------------------------------------------------------------- lock file


def hold_lock_lease(fd: int) -> int:
    """Write this process's lease into the (flocked) lock file and keep it fresh. Returns a token."""
    def write(record: bytes) -> None:
        os.pwrite(fd, record, 0)
    try:
        return HEARTBEAT.hold(write)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return 0  # a full disk must not stop the run that would clean it up; flock still guards
        raise


def release_lock_lease(fd: int, token: int) -> None:
    """Stop refreshing, and blank the record, so that a finished writer leaves no lease behind."""
    HEARTBEAT.release(token)
    try:
        os.pwrite(fd, b" " * RECORD_BYTES, 0)
    except OSError:
        pass
