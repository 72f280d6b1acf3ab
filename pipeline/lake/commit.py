"""Step commit (pipeline/lake/store.py holds the protocol: every table's rows, then the snapshots row, in Delta
tables), and the catalog rebuild after it."""

from pathlib import Path

from pipeline.catalog.docs import table_docs
from pipeline.catalog.views import build_catalog
from pipeline.check.checks import CheckOutcome
from pipeline.lake.layout import Layout, snapshot_at_of
from pipeline.lake.lease import discard
from pipeline.lake.store import Manifest, commit
from pipeline.normalize.step import Staged


def commit_staged(layout: Layout, staged: Staged, checks: list[CheckOutcome]) -> Manifest:
    """Commit staged tables: the snapshots row makes them visible. The caller holds the writer lock.

    The check outcomes are recorded with the snapshots row, so that later steps (reports) can be gated on them.
    """
    manifest = commit(
        layout, snapshot_id=staged.snapshot_id, write_id=staged.write_id,
        snapshot_at=snapshot_at_of(staged.snapshot_id), status=staged.status, raw_dir=staged.raw_dir,
        table_files=staged.files, rows=staged.rows, checks={c.name: c.passed for c in checks},
    )
    discard(staged.out_dir)
    return manifest


def publish(layout: Layout, staged: Staged, checks: list[CheckOutcome]) -> Manifest:
    """Commit and rebuild the catalog. The caller holds the writer lock."""
    manifest = commit_staged(layout, staged, checks)
    refresh_catalog(layout)
    return manifest


def refresh_catalog(layout: Layout) -> Path:
    """Rebuild the catalog file. For a lake in a bucket, the history and report partitions other machines
    published are fetched first (the tables' files are fetched by the mirror as the views are made)."""
    if layout.in_bucket:
        from pipeline.lake.bucket_sync import pull_history, pull_reports

        pull_history(layout)
        pull_reports(layout)
    return build_catalog(layout, table_docs())


class CatalogNotRefreshed(RuntimeError):
    """A snapshot was committed, but the catalog rebuild after the commit failed (a full disk, say): the data
    is safe in the lake, and the catalog shows it from the next successful rebuild (any later run)."""

    def __init__(self, snapshot_id: str, status: str, reason: str):
        super().__init__(f"snapshot {snapshot_id} committed ({status}); catalog not refreshed: {reason}; "
                         "the next run refreshes it")
        self.snapshot_id, self.status, self.reason = snapshot_id, status, reason
