"""The Dagster instance's SQLite storages, with their connections reused.

Dagster's SQLite storages create a new SQLAlchemy engine, and open a new SQLite connection, for every
statement they run, and commit each with a full fsync. A snapshot run stores ~150 events, each taking about
four connections: measured in a 6-snapshot demo, ~4 ms a connection, ~2 s of a ~6 s snapshot. These classes
are the same storages with one engine per database file and process, whose connections are pooled, and with
`synchronous=NORMAL` (in WAL mode, which Dagster sets: a commit survives a killed process; only an OS crash
can lose the last ones, and the instance holds run records, not the lake's data, which commits on its own).

runner.py names them in the dagster.yaml it writes; `dagster dev` loads them from there like Dagster's own.
"""

import atexit
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage

SQLITE_BUSY_TIMEOUT_S = 120  # as Dagster's event log storage waits for a lock
WAL_PAGES = 64  # a checkpoint after this many pages written (SQLite's default: 1,000)
WAL_LIMIT_BYTES = 256 * 1024  # ... then the WAL file is cut back to at most this

_open: "weakref.WeakSet[_Pooled]" = weakref.WeakSet()


def _on_connect(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    # A connection kept open keeps the WAL file: without these it grows to ~4 MiB before a checkpoint and
    # stays that size, where a closed last connection deleted it (the instance sits on the lake's disk by
    # default, and a nearly full disk must still let a run clean the debris of killed runs).
    dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
    dbapi_connection.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")


class _Pooled:
    """One engine per storage and process (a forked child opens its own connections, never its parent's),
    disposed with the instance, or at exit: the last connection to close checkpoints and removes the WAL."""

    _conn_string: str
    _pool_lock = threading.Lock()

    def _pooled_engine(self) -> sa.Engine:
        engine, pid = getattr(self, "_pooled", (None, None))
        if engine is None or pid != os.getpid():
            with self._pool_lock:
                engine, pid = getattr(self, "_pooled", (None, None))
                if engine is None or pid != os.getpid():
                    engine = sa.create_engine(self._conn_string, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
                                              pool_size=4, max_overflow=16)
                    sa.event.listen(engine, "connect", _on_connect)
                    self._pooled = (engine, os.getpid())
                    _open.add(self)
        return engine

    @contextmanager
    def _pooled_connection(self) -> Iterator[sa.Connection]:
        with self._pooled_engine().connect() as conn, conn.begin():
            yield conn

    def _close_pool(self) -> None:
        engine, pid = getattr(self, "_pooled", (None, None))
        if engine is not None and pid == os.getpid():
            engine.dispose()
        self._pooled = (None, None)


@atexit.register
def _close_all() -> None:
    for storage in list(_open):
        storage._close_pool()


class PooledSqliteEventLogStorage(_Pooled, ConsolidatedSqliteEventLogStorage):
    """ConsolidatedSqliteEventLogStorage (one SQLite file for every run's events), connections reused."""

    def _connect(self):
        return self._pooled_connection()

    def dispose(self) -> None:
        super().dispose()
        self._close_pool()


class PooledSqliteRunStorage(_Pooled, SqliteRunStorage):
    """SqliteRunStorage, connections reused."""

    @classmethod
    def from_config_value(cls, inst_data, config_value):  # Dagster's names SqliteRunStorage, not cls
        return cls.from_local(inst_data=inst_data, **config_value)

    def connect(self):
        return self._pooled_connection()

    def dispose(self) -> None:
        super().dispose()
        self._close_pool()
