"""The lake format of poolscope before Delta tables, read only: what `poolscope migrate` copies from.

That format committed a snapshot by renaming `lake/_manifests/<ID>.json` (naming one Parquet file per table) and
a compacted day by renaming `lake/_days/<D>.json` (one file per table and day, naming the snapshot writes it
holds). A snapshot was read from its day's compacted file while the day record covered its current write, from
its own files otherwise; a compacted file's rows of a since-replaced write were filtered out (`LiveFile.exclude`).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.lake.layout import Layout


@dataclass(frozen=True)
class Manifest:
    snapshot_id: str
    write_id: str
    snapshot_at: str
    status: str
    raw_dir: str  # relative to the storage root
    tables: dict[str, dict]  # table -> {"file": path relative to the root, "rows": int}
    committed_at: str
    checks: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class DayRecord:
    day: str
    write_id: str
    snapshots: dict[str, str]  # snapshot id -> the write id whose rows the compacted files hold
    tables: dict[str, dict]
    compacted_at: str


@dataclass(frozen=True)
class LiveFile:
    """A committed table file and the snapshots whose rows in it are stale (replaced by a later write)."""

    path: Path
    exclude: tuple[str, ...] = ()


def manifests_dir(layout: Layout) -> Path:
    return layout.lake / "_manifests"


def is_folder_format(layout: Layout) -> bool:
    """Does this root hold a lake of the old format (at least one snapshot manifest)?"""
    folder = manifests_dir(layout)
    return folder.is_dir() and any(folder.glob("*.json"))


def _read_records(folder: Path, kind: type) -> list:
    out = []
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        try:
            out.append(kind(**json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue  # records were written whole and renamed into place: only outside damage makes one
    return out


def read_manifests(layout: Layout) -> list[Manifest]:
    """Committed snapshots, oldest first."""
    return _read_records(manifests_dir(layout), Manifest)


def read_day_records(layout: Layout) -> list[DayRecord]:
    return _read_records(layout.lake / "_days", DayRecord)


def live_files(layout: Layout, manifests: list[Manifest] | None = None) -> dict[str, list[LiveFile]]:
    """table -> the files holding the committed rows of every snapshot, each row exactly once, in time order."""
    current = {m.snapshot_id: m for m in (read_manifests(layout) if manifests is None else manifests)}
    entries: list[tuple[str, str, LiveFile]] = []
    covered: set[str] = set()
    for rec in read_day_records(layout):
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


def select_files(files: list[LiveFile]) -> str:
    """A DuckDB SELECT over such files (no partition column), a compacted file's stale rows filtered out."""
    from pipeline.sqlfiles import quote_literal

    whole = [f for f in files if not f.exclude]
    parts = []
    if whole:
        paths = ", ".join(quote_literal(str(f.path.resolve())) for f in whole)
        parts.append(f"SELECT * FROM read_parquet([{paths}], union_by_name = true, hive_partitioning = false)")
    for f in files:
        if f.exclude:
            stale = ", ".join(quote_literal(sid) for sid in f.exclude)
            parts.append(f"SELECT * FROM read_parquet({quote_literal(str(f.path.resolve()))}, "
                         f"hive_partitioning = false) WHERE snapshot_id NOT IN ({stale})")
    return " UNION ALL BY NAME ".join(parts)
