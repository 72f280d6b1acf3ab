"""The incremental history: `pool_changes` and `pool_versions` moved forward one snapshot at a time.

    lake/_history/record.json                   the commit record (HistoryRecord), replaced by one rename
    lake/_history/state-<ID>-<WRITE>.parquet    each pool's last observation and open version (sql/history/_state.sql)
    lake/_history/base-<WRITE>/<table>.parquet  a full recomputation: every change, the closed versions
    lake/_history/seg-<ID>-<WRITE>/<table>.parquet  one snapshot's changes and the versions it ended
    lake/_history/day-<D>-<WRITE>/<table>.parquet   a past day's segments merged into one file per table

`update_history(layout)` runs after a snapshot is committed (the caller holds the writer lock). It folds every
committed snapshot the record does not reflect yet into the state (pipeline/history/fold.py: reads that
snapshot's files and the state, nothing else), writes the snapshot's rows as a segment, and commits a new record
naming the new state and files. The catalog reads `pool_changes` from the files and `pool_versions` from the
closed versions in the files plus the open ones in the state (`history_sources`).

Why a record of its own rather than columns of the snapshots table: the state and the rows it was computed with
are committed together by one rename, so they can never disagree (a crash leaves the previous record whole, and
the next run folds the snapshot again); and a snapshot committed out of order does not force rewriting later
snapshots' rows.

Which snapshots a record reflects is told by a digest of the committed writes (snapshot id, write id: the
`snapshots` table's key columns) up to its snapshot: a re-run, a late snapshot or `renormalize` each commit a
new write id, without reading every snapshot's rows. When the digest no longer matches:
the record before the latest fold (kept as `previous`) is used if it still matches (a re-run or late arrival
of the latest snapshot: one fold), otherwise the history is rebuilt from scratch by the full recomputation
(pipeline/history/full.py). A record written by other SQL or code (`rules`) is rebuilt too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import duckdb

from pipeline.catalog.views import create_lake_views
from pipeline.sqlfiles import quote_literal, sql_digest
from pipeline.history.full import INPUTS, PARQUET_OPTIONS, SQL_FOLDER, build_history_base
from pipeline.history.fold import fold_snapshot
from pipeline.lake.layout import Layout, day_of, new_write_id
from pipeline.lake.delta import PARTITION, writes_of
from pipeline.lake.store import GRACE_S, Manifest, _mark_replaced, _write_json, read_manifests
from pipeline.lake.durable import fsync_dir
from pipeline.lake.lease import discard, work_dir

log = logging.getLogger(__name__)

TABLES: tuple[str, ...] = ("pool_changes", "pool_versions")
# Bump when the Python side of the fold changes what it writes; the SQL is covered by its own digest.
FORMAT = 1
# A history further behind than this many snapshots (and than 1/40 of the lake) is rebuilt rather than folded:
# a fold costs about as much as the full recomputation spends on 40 snapshots.
FOLD_AT_MOST = 24
LEGACY = ("pool_changes", "pool_versions")  # lake/derived/<table>.parquet, written before the history had a record
# A pool's content from its field map in the state (sql/history/_state.sql).
CONTENT = "('{' || array_to_string(list_transform(entries, lambda x: x.kv), ',') || '}')::JSON"


@dataclass(frozen=True)
class HistoryRecord:
    """The commit record of the history (lake/_history/record.json)."""

    snapshot_id: str | None  # every committed snapshot up to this one is folded in; None: the lake had none
    write_id: str | None  # that snapshot's write
    manifests: str  # digest of the committed writes up to snapshot_id (see _marks; the name is the record format's)
    count: int  # how many snapshots that is
    rules: str  # digest of the SQL and code that computed this history
    state: str  # the state file, relative to the root
    parts: list[dict]  # {"kind": base | day | segment, "key": write id | day | snapshot id,
    #                     "tables": {table: {"file": relative path, "rows": n}}}, in time order
    open_versions: int  # pool_versions rows still open (read from the state)
    write: str  # this record's own write id
    committed_at: str
    previous: dict | None = None  # the record before the latest fold (without its own `previous`)

    def files(self, root: Path) -> dict[str, list[Path]]:
        out: dict[str, list[Path]] = {t: [] for t in TABLES}
        for part in self.parts:
            for table, info in part["tables"].items():
                out.setdefault(table, []).append(root / info["file"])
        return out

    def rows(self) -> dict[str, int]:
        out = {t: 0 for t in TABLES}
        for part in self.parts:
            for table, info in part["tables"].items():
                out[table] = out.get(table, 0) + int(info["rows"])
        out["pool_versions"] += self.open_versions
        return out

    def referenced(self, root: Path) -> set[Path]:
        """Every file this record (and its `previous`) needs."""
        paths = {root / self.state, *(p for ps in self.files(root).values() for p in ps)}
        if self.previous:
            paths |= HistoryRecord(**self.previous).referenced(root)
        return paths


@dataclass
class HistoryResult:
    snapshot_id: str | None  # the history reflects every committed snapshot up to this one
    rows: dict[str, int]  # table -> rows now
    folded: list[str] = field(default_factory=list)  # snapshots folded in incrementally by this call
    rebuilt: str = ""  # why the history was recomputed in full by this call ("" when it was not)
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------------- reading


def record_path(layout: Layout) -> Path:
    return layout.history / "record.json"


def read_record(layout: Layout) -> HistoryRecord | None:
    try:
        return HistoryRecord(**json.loads(record_path(layout).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


@cache
def rules_digest() -> str:
    """What the history's rows depend on: its format and every file of sql/history (pipeline/sqlfiles.py)."""
    return hashlib.sha256(f"format {FORMAT}\n{sql_digest(SQL_FOLDER)}".encode()).hexdigest()[:16]


def _marks(layout: Layout) -> list[tuple[str, str]]:
    """(snapshot id, write id) of every committed snapshot, in id order: a re-run or renormalize commits a new
    write id, so it changes the mark; one read of the snapshots table's two key columns."""
    return sorted(layout.tables().current_writes().items())


def _digest(marks: list[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for sid, mark in marks:
        h.update(f"{sid}={mark}\n".encode())
    return h.hexdigest()


def _upto(marks: list[tuple[str, str]], snapshot_id: str | None) -> list[tuple[str, str]]:
    return [] if snapshot_id is None else [m for m in marks if m[0] <= snapshot_id]


def _matches(layout: Layout, record: HistoryRecord, marks: list[tuple[str, str]]) -> bool:
    """The record reflects exactly the committed writes up to its snapshot, and its files are there."""
    upto = _upto(marks, record.snapshot_id)
    return (record.rules == rules_digest() and len(upto) == record.count and _digest(upto) == record.manifests
            and all(p.is_file() for p in record.referenced(layout.root)))


def history_sources(layout: Layout) -> dict[str, str]:
    """table -> the SELECT of its catalog view, from the record (empty when there is none)."""
    record = read_record(layout)
    if record is None:
        return {}
    files = record.files(layout.root)

    def listing(paths: list[Path]) -> str:
        return "[" + ", ".join(quote_literal(str(p.resolve())) for p in paths) + "]"

    state = quote_literal(str((layout.root / record.state).resolve()))
    open_versions = (
        "SELECT region, project_id, pool_id, version, valid_from, NULL::TIMESTAMPTZ AS valid_to, "
        "NULL::VARCHAR AS ended_by, first_snapshot_id, last_snapshot_id, "
        f"{CONTENT} AS content, unnest(flat) "
        f"FROM read_parquet({state}) WHERE gone_snapshot_id IS NULL"
    )
    return {
        "pool_changes": f"SELECT * FROM read_parquet({listing(files['pool_changes'])}, union_by_name = true)",
        "pool_versions": f"SELECT * FROM read_parquet({listing(files['pool_versions'])}, union_by_name = true) "
                         f"UNION ALL BY NAME {open_versions}",
    }


# ---------------------------------------------------------------------------------------------- writing


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _work_dir(layout: Layout, kind: str, write_id: str) -> Path:
    # A leased folder: garbage collection (here or on another host) leaves it alone while we work.
    layout.ensure()
    return work_dir(layout.tmp, f"history-{kind}-{write_id}")


def _move_in(layout: Layout, src: Path, dest: Path) -> str:
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)
    return str(dest.relative_to(layout.root))


def _part(layout: Layout, kind: str, key: str, write_id: str, work: Path, rows: dict[str, int],
          keep_empty: bool = False) -> dict | None:
    """Move a part's table files from `work` into lake/_history/; tables without rows are left out (unless
    `keep_empty`: the base keeps both, so that every view has a file with the schema)."""
    folder = layout.history / {"base": f"base-{write_id}", "day": f"day-{key}-{write_id}",
                               "segment": f"seg-{key}-{write_id}"}[kind]
    tables = {}
    for table in TABLES:
        if rows.get(table, 0) or keep_empty:
            tables[table] = {"file": _move_in(layout, work / f"{table}.parquet", folder / f"{table}.parquet"),
                             "rows": int(rows.get(table, 0))}
    if not tables:
        return None
    fsync_dir(folder)
    return {"kind": kind, "key": key, "tables": tables}


def _time_key(part: dict) -> str:
    return {"base": "", "day": part["key"].replace("-", ""), "segment": part["key"]}[part["kind"]]


def _commit(layout: Layout, record: HistoryRecord, old: HistoryRecord | None) -> None:
    """Publish `record` (the commit point: one rename). Files only the old record needed start their grace
    period now, as a reader's catalog may still name them."""
    fsync_dir(layout.history)
    if old is not None:
        _mark_replaced(old.referenced(layout.root) - record.referenced(layout.root))
    else:
        _mark_replaced(layout.lake / "derived" / f"{t}.parquet" for t in LEGACY)
    _write_json(record_path(layout), layout.history / f".record.{record.write}.tmp", asdict(record))
    if layout.in_bucket:
        from pipeline.lake.bucket_sync import push_history

        push_history(layout)


def collect_history_garbage(layout: Layout, grace_s: float = GRACE_S) -> int:
    """Remove history files no record needs, once older than `grace_s`, and the derived files of the full
    recomputation that the record replaced. Call only while holding the writer lock. Returns files removed."""
    record = read_record(layout)
    if record is None:
        return 0
    keep = {p.resolve() for p in record.referenced(layout.root)}
    now = time.time()
    removed = 0

    def old(path: Path) -> bool:
        try:
            return now - path.stat().st_mtime >= grace_s
        except FileNotFoundError:
            return False

    candidates: list[Path] = [layout.lake / "derived" / f"{t}.parquet" for t in LEGACY]
    for entry in layout.history.iterdir():
        if entry.name == record_path(layout).name:
            continue
        if entry.name.startswith(".") and entry.name.endswith(".tmp"):
            entry.unlink(missing_ok=True)  # a record write that never reached its rename
            removed += 1
        elif entry.is_dir():
            candidates.extend(entry.glob("*.parquet"))
        else:
            candidates.append(entry)
    for path in candidates:
        if path.exists() and path.resolve() not in keep and old(path):
            path.unlink(missing_ok=True)
            removed += 1
    for entry in layout.history.iterdir():
        if entry.is_dir() and not any(entry.iterdir()):
            entry.rmdir()
    return removed


# ---------------------------------------------------------------------------------------------- rebuilding


def rebuild_history(layout: Layout, *, reason: str = "requested", grace_s: float = GRACE_S,
                    memory_limit: str | None = None) -> HistoryResult:
    """Recompute the history over every committed snapshot (the full recomputation, sql/history/) and commit it
    as a new record. The caller holds the writer lock. Its intermediate tables grow with the lake (about 1.5 GB
    per month of hourly snapshots of 2,000 busy pools): past `memory_limit` (DuckDB's, e.g. "4GB"; default 80%
    of RAM) DuckDB spills them to the work folder under lake/_tmp/."""
    started = time.perf_counter()
    marks = _marks(layout)
    manifests = read_manifests(layout)
    write_id = new_write_id()
    work = _work_dir(layout, "rebuild", write_id)
    try:
        con = duckdb.connect(":memory:")
        try:
            con.execute("SET enable_progress_bar = false")
            con.execute("SET preserve_insertion_order = false")  # every output order is explicit
            con.execute(f"SET temp_directory = {quote_literal(str(work / 'spill'))}")
            if memory_limit:
                con.execute(f"SET memory_limit = {quote_literal(memory_limit)}")
            create_lake_views(con, layout)  # the writer lock is held: the same committed state as `manifests`
            counts = build_history_base(con, work)
        finally:
            con.close()
        layout.history.mkdir(parents=True, exist_ok=True)
        last = marks[-1][0] if marks else None
        write_ids = {m.snapshot_id: m.write_id for m in manifests}
        state = _move_in(layout, work / "state.parquet",
                         layout.history / f"state-{last or 'none'}-{write_id}.parquet")
        base = _part(layout, "base", write_id, write_id, work, counts, keep_empty=True)
        record = HistoryRecord(
            snapshot_id=last, write_id=write_ids.get(last) if last else None, manifests=_digest(marks),
            count=len(marks), rules=rules_digest(), state=state, parts=[base], open_versions=counts["open_versions"],
            write=write_id, committed_at=_now(),
        )
        _commit(layout, record, read_record(layout))
    finally:
        discard(work)
    collect_history_garbage(layout, grace_s)
    log.info("history rebuilt (%s) through %s in %.1fs", reason, last, time.perf_counter() - started)
    return HistoryResult(last, record.rows(), rebuilt=reason, seconds=time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------- folding


def _read_manifest(layout: Layout, snapshot_id: str) -> Manifest | None:
    return next((m for m in read_manifests(layout) if m.snapshot_id == snapshot_id), None)


def snapshot_sources(layout: Layout, manifest: Manifest) -> dict[str, str]:
    """table -> a SELECT of one snapshot's rows (its committed write's): the files of its day that can hold them
    (the Delta log's statistics of snapshot_id and write_id prune the rest, e.g. a compacted day's other
    files)."""
    lake = layout.tables()
    sid, wids = manifest.snapshot_id, writes_of(manifest.write_id)  # a write per region, when taken so
    day = day_of(sid)
    out = {}

    def holds(f: dict) -> bool:
        return (f[f"partition.{PARTITION}"] == day
                and (f.get("min.snapshot_id") or "") <= sid <= (f.get("max.snapshot_id") or "~")
                and any((f.get("min.write_id") or "") <= wid <= (f.get("max.write_id") or "~") for wid in wids))

    for table in INPUTS:
        files = lake.data_files(table, holds)
        if files:
            paths = ", ".join(quote_literal(f) for f in files)
            which = ", ".join(quote_literal(w) for w in wids)
            out[table] = (f"SELECT * EXCLUDE (write_id) FROM read_parquet([{paths}], hive_partitioning = false, "
                          f"union_by_name = true) WHERE snapshot_id = {quote_literal(sid)} "
                          f"AND write_id IN ({which})")
    return out


def _merge_days(layout: Layout, parts: list[dict], before_day: str, write_id: str, work: Path) -> list[dict]:
    """Segments of days before `before_day` merged into one file per table and day (like compaction, so that a
    year of hourly snapshots reads ~365 history files, not 8,760)."""
    by_day: dict[str, list[dict]] = {}
    for part in parts:
        if part["kind"] == "segment" and day_of(part["key"]) < before_day:
            by_day.setdefault(day_of(part["key"]), []).append(part)
        elif part["kind"] == "day" and part["key"] < before_day:
            by_day.setdefault(part["key"], []).append(part)
    merged = [p for ps in by_day.values() for p in ps]
    if not any(len(ps) > 1 or ps[0]["kind"] == "segment" for ps in by_day.values()):
        return parts
    out = [p for p in parts if not any(p is m for m in merged)]
    con = duckdb.connect(":memory:")
    try:
        for day, day_parts in sorted(by_day.items()):
            if len(day_parts) == 1 and day_parts[0]["kind"] == "day":
                out.append(day_parts[0])
                continue
            folder = work / f"day-{day}"
            folder.mkdir()
            rows = {}
            for table in TABLES:
                files = [layout.root / p["tables"][table]["file"] for p in day_parts if table in p["tables"]]
                if not files:
                    continue
                listing = "[" + ", ".join(quote_literal(str(f)) for f in files) + "]"
                dest = folder / f"{table}.parquet"
                con.execute(f"COPY (SELECT * FROM read_parquet({listing}, union_by_name = true)) "
                            f"TO {quote_literal(str(dest))} ({PARQUET_OPTIONS})")
                rows[table] = con.execute(f"SELECT count(*) FROM read_parquet({quote_literal(str(dest))})"
                                          ).fetchall()[0][0]
                expected = sum(int(p["tables"][table]["rows"]) for p in day_parts if table in p["tables"])
                if rows[table] != expected:
                    raise RuntimeError(f"history: merging {day} wrote {rows[table]} {table} rows, not {expected}")
            part = _part(layout, "day", day, write_id, folder, rows)
            if part is not None:
                out.append(part)
    finally:
        con.close()
    return sorted(out, key=_time_key)


def _fold(layout: Layout, record: HistoryRecord, snapshot_id: str, marks: list[tuple[str, str]]) -> HistoryRecord:
    """The record after folding in `snapshot_id` (its files are moved in; the record is not committed)."""
    write_id = new_write_id()
    manifest = _read_manifest(layout, snapshot_id)
    previous = {k: v for k, v in asdict(record).items() if k != "previous"}
    upto = _upto(marks, snapshot_id)
    common = dict(snapshot_id=snapshot_id, manifests=_digest(upto), count=len(upto), write=write_id,
                  committed_at=_now(), previous=previous)
    if manifest is None:
        return replace(record, write_id=None, **common)
    work = _work_dir(layout, "fold", write_id)
    try:
        rows = fold_snapshot(snapshot_sources(layout, manifest), snapshot_id,
                             datetime.fromisoformat(manifest.snapshot_at), layout.root / record.state, work)
        state = _move_in(layout, work / "state.parquet", layout.history / f"state-{snapshot_id}-{write_id}.parquet")
        parts = list(record.parts)
        segment = _part(layout, "segment", snapshot_id, write_id, work, rows)
        if segment is not None:
            parts.append(segment)
        parts = _merge_days(layout, parts, day_of(snapshot_id), write_id, work)
    finally:
        discard(work)
    return HistoryRecord(write_id=manifest.write_id, rules=record.rules, state=state, parts=parts,
                         open_versions=rows["open_versions"], **common)


def update_history(layout: Layout, *, grace_s: float = GRACE_S) -> HistoryResult:
    """Bring the history up to date with the committed snapshots: fold in each one the record does not reflect
    yet, or rebuild it in full when it cannot be moved forward (none yet, other rules, a snapshot committed out
    of order, far behind). The caller holds the writer lock."""
    started = time.perf_counter()
    layout.history.mkdir(parents=True, exist_ok=True)
    if layout.in_bucket:
        from pipeline.lake.bucket_sync import pull_history

        pull_history(layout)  # another machine may have folded since this work folder did
    marks = _marks(layout)
    on_disk = read_record(layout)
    base = on_disk
    if on_disk is None:
        return rebuild_history(layout, reason="no history yet", grace_s=grace_s)
    if not _matches(layout, on_disk, marks):
        previous = HistoryRecord(**on_disk.previous) if on_disk.previous else None
        if previous is not None and _matches(layout, previous, marks):
            base = previous  # the latest snapshot was re-run (or one arrived just before it): fold from before it
        else:
            why = ("other history rules" if on_disk.rules != rules_digest()
                   else "snapshots committed or replaced before the latest one folded in")
            return rebuild_history(layout, reason=why, grace_s=grace_s)
    pending = [sid for sid, _ in marks if base.snapshot_id is None or sid > base.snapshot_id]
    if len(pending) > max(FOLD_AT_MOST, len(marks) // 40):
        return rebuild_history(layout, reason=f"{len(pending)} snapshots behind", grace_s=grace_s)
    record, old = base, on_disk
    for sid in pending:
        record = _fold(layout, record, sid, marks)
        _commit(layout, record, old)
        old = record
    if pending:
        collect_history_garbage(layout, grace_s)
    return HistoryResult(record.snapshot_id, record.rows(), folded=pending,
                         seconds=time.perf_counter() - started)
