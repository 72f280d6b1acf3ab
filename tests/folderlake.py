"""Lakes of the format before Delta tables, written for the migration tests (what poolscope wrote then: one Parquet
file per snapshot and table under lake/<table>/snapshot_day=<D>/, a manifest per snapshot renamed into
lake/_manifests/, a compacted day's files named by lake/_days/<D>.json with the writes they hold).

The rows come from real snapshots: a Delta lake made by the pipeline (lakekit.publish_snapshot), each snapshot's
committed rows and raw set copied over as the old format held them.
"""

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from pipeline.catalog.views import delta_sources
from pipeline.lake.folder_format import live_files, read_manifests, select_files
from pipeline.lake.layout import Layout, day_of
from pipeline.lake.store import read_manifests as delta_manifests
from pipeline.sqlfiles import quote_literal


class FolderLake:
    def __init__(self, root: Path):
        self.root = root
        self.lake = root / "lake"
        (self.lake / "_manifests").mkdir(parents=True, exist_ok=True)

    def copy_snapshot(self, source_root: Path, snapshot_id: str, write_id: str) -> None:
        """Commit `snapshot_id` as the Delta lake at `source_root` holds it, as write `write_id`, with its raw set."""
        source = Layout(source_root)
        manifest = next(m for m in delta_manifests(source) if m.snapshot_id == snapshot_id)
        day = day_of(snapshot_id)
        con = duckdb.connect()
        tables = {}
        try:
            for table, select in delta_sources(source.tables()).items():
                dest = self.lake / table / f"snapshot_day={day}" / f"{snapshot_id}_{write_id}.parquet"
                n = con.sql(f"SELECT count(*) FROM ({select}) WHERE snapshot_id = {quote_literal(snapshot_id)}"
                            ).fetchall()[0][0]
                if not n:
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                con.execute(f"COPY (SELECT * EXCLUDE (snapshot_day) "
                            f"FROM ({select}) WHERE snapshot_id = {quote_literal(snapshot_id)}) "
                            f"TO {quote_literal(str(dest))} (FORMAT parquet)")
                tables[table] = {"file": str(dest.relative_to(self.root)), "rows": int(n)}
        finally:
            con.close()
        raw = self.lake / "raw" / f"snapshot_id={snapshot_id}" / write_id
        shutil.copytree(source_root / manifest.raw_dir, raw)
        self._write(self.lake / "_manifests" / f"{snapshot_id}.json", {
            "snapshot_id": snapshot_id, "write_id": write_id, "snapshot_at": manifest.snapshot_at,
            "status": manifest.status, "raw_dir": str(raw.relative_to(self.root)), "tables": tables,
            "committed_at": datetime.now(timezone.utc).isoformat(), "checks": manifest.checks})

    def compact(self, day: str, write_id: str) -> None:
        """What the old compaction did: the day's live rows as one file per table, and the day record."""
        layout = Layout(self.root)
        manifests = [m for m in read_manifests(layout) if day_of(m.snapshot_id) == day]
        files = live_files(layout, manifests)
        tables = {}
        con = duckdb.connect()
        try:
            for table, live in files.items():
                dest = self.lake / table / f"snapshot_day={day}" / f"day_{write_id}.parquet"
                con.execute(f"COPY ({select_files(live)} ORDER BY snapshot_id) TO {quote_literal(str(dest))} "
                            "(FORMAT parquet)")
                tables[table] = {"file": str(dest.relative_to(self.root)), "rows": 0}
        finally:
            con.close()
        (self.lake / "_days").mkdir(exist_ok=True)
        self._write(self.lake / "_days" / f"{day}.json", {
            "day": day, "write_id": write_id, "snapshots": {m.snapshot_id: m.write_id for m in manifests},
            "tables": tables, "compacted_at": datetime.now(timezone.utc).isoformat()})

    @staticmethod
    def _write(path: Path, data: dict) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)
