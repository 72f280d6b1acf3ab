"""The snapshot flow, defined once:

    land -> normalize -> check -> commit -> history -> reports -> catalog -> cleanup

Each step is one function here, and the Dagster assets of the snapshot job are their only caller
(pipeline/assets/snapshot.py: `raw_snapshot` lands; `pool_tables` normalizes, checks and commits; `pool_history`
folds the history forward; `inventory_catalog` stores the reports of the snapshot's day (and the day before, at a day's first snapshot),
rebuilds the catalog and cleans up). `poolscope snapshot`, `poolscope demo` and the tests take a snapshot by
running that job in process against the persistent Dagster instance (`run_snapshot`, through pipeline/runner.py):
one path, visible in the Dagster UI afterwards, whoever started it.

What a caller in this process hands to the steps of a run it starts (credentials given in code, progress
callbacks) travels in `RunHooks`, a context variable: Dagster runs the steps of an in-process run in the calling
thread. A run Dagster starts on its own has no hooks: credentials then come from its environment.

Locking: each writing step takes the lake's writer lock (commit, history, reports + catalog + cleanup). The CLI
holds the lock around the whole run (`for_steps`), so two CLI snapshots never interleave and `--wait` means what
it says; Dagster's own runs queue on the lock step by step.
"""

import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb

from pipeline.config import Config
from pipeline.check.checks import CheckOutcome
from pipeline.land.landing import CallRecord
from pipeline.lake.layout import Layout
from pipeline.lake.lease import discard
from pipeline.lake.space import StorageFullError, check_free_space, no_space
from pipeline.lake.store import LakeBusyError, Manifest, collect_garbage, upkeep_due, writer_lock
from pipeline.modelarts import Credentials

log = logging.getLogger(__name__)

STEPS = ("land", "normalize", "check", "commit", "history", "reports", "catalog", "cleanup")
EXIT_CODES = {"complete": 0, "partial": 3, "failed": 1}
LOCK_WAIT_S = 900.0  # a step of a run Dagster started waits this long for another writer's step
REPORT_DAYS = 2  # a snapshot's day, and the previous snapshot's day: both current in the catalog after it
OnCall = Callable[[CallRecord], None]


@dataclass
class SnapshotResult:
    snapshot_id: str
    status: str
    targets: int
    targets_ok: int
    targets_failed: int
    pools: int
    rejected: int
    rows: dict[str, int]
    errors_by_code: dict[str, int]
    checks: list[CheckOutcome]
    manifest: Manifest
    # Blocking checks that failed ("table: check"): the snapshot is committed, but Dagster ran no step after
    # them (history, reports, catalog); the next snapshot brings those up to date.
    blocked_by: list[str] = field(default_factory=list)
    # The pace of the fetch, per endpoint (see table snapshots, endpoint_rates): mode, start_rps, settled_rps,
    # attempts, throttled (429s met).
    rates: list[dict] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        code = EXIT_CODES[self.status]
        return code if code or not self.blocked_by else 1


@dataclass
class RunHooks:
    """What an in-process caller passes to the steps of the run it starts; never serialized."""

    credentials: Credentials | None = None
    on_call: OnCall | None = None
    on_plan: Callable[[int], None] | None = None
    result: SnapshotResult | None = None  # set by the commit step
    reports: dict[date, object] = field(default_factory=dict)  # set by the reports step


_HOOKS: ContextVar[RunHooks | None] = ContextVar("poolscope_run_hooks", default=None)


def hooks() -> RunHooks:
    """The current run's hooks (empty for a run Dagster started on its own)."""
    return _HOOKS.get() or RunHooks()


def set_hooks(value: RunHooks | None):
    return _HOOKS.set(value)


def reset_hooks(token) -> None:
    _HOOKS.reset(token)


# ---------------------------------------------------------------------------------------------- steps


def land(config: Config, credentials: Credentials, snapshot_at: datetime | None, *,
         on_call: OnCall | None = None, on_plan: Callable[[int], None] | None = None,
         region: str | None = None) -> tuple[str, Path]:
    """Step land: clean crashed runs' debris (when no other writer is at work), check the free space, fetch
    every target and seal the raw set. Returns (snapshot_id, raw_dir)."""
    from pipeline.land.step import land as fetch_and_land, prepare_write

    layout = config.layout()
    try:
        with writer_lock(layout):
            prepare_write(layout, config)
    except LakeBusyError:
        # Another writer is at work and cleans up after itself; landing needs no lock (its own folder).
        check_free_space(layout.root, config.storage.min_free_mb)
    snapshot_id, raw_dir = fetch_and_land(config, credentials, snapshot_at, on_call, on_plan, region)
    if layout.in_bucket:
        from pipeline.lake.bucket_sync import upload_raw

        upload_raw(layout, raw_dir)  # raw first: before any of its rows is committed
    return snapshot_id, raw_dir


def normalize(layout: Layout, raw_dir: Path, snapshot_id: str):
    """Step normalize: the sealed raw set -> table files in a leased work folder (not visible yet)."""
    from pipeline.normalize.step import stage

    return stage(layout, raw_dir, snapshot_id)


def check(staged) -> list[CheckOutcome]:
    """Step check: the data checks over the staged tables (recorded with the snapshots row; they gate the
    reports)."""
    from pipeline.check.checks import check as run_checks

    return run_checks(staged)


def commit(layout: Layout, staged, checks: list[CheckOutcome]) -> SnapshotResult:
    """Step commit: the snapshots row, committed after every table's rows, makes the staged tables visible. A
    full disk before that point is StorageFullError (nothing committed)."""
    from pipeline.lake.commit import commit_staged

    try:
        with writer_lock(layout, wait_s=LOCK_WAIT_S):
            manifest = commit_staged(layout, staged, checks)
    except BaseException as exc:
        discard(staged.out_dir)  # at once: on a full disk, its space is wanted back
        reason = no_space(exc)
        if reason is None:
            raise
        raise StorageFullError(f"storage {layout.root}: {reason}; nothing committed") from exc
    for c in checks:
        if not c.passed:
            log.warning("check %s failed for snapshot %s: %s", c.name, staged.snapshot_id, c.summary)
    result = SnapshotResult(
        snapshot_id=staged.snapshot_id, status=staged.status, targets=staged.targets,
        targets_ok=staged.targets_ok, targets_failed=staged.targets_failed, pools=staged.rows.get("pools", 0),
        rejected=staged.rejected, rows=staged.rows, errors_by_code=staged.errors_by_code, checks=checks,
        manifest=manifest, rates=staged.rates)
    hooks().result = result
    return result


def history(layout: Layout):
    """Step history: fold every committed snapshot not folded in yet into pool_changes / pool_versions."""
    from pipeline.history.store import update_history

    with _committed(layout):
        with writer_lock(layout, wait_s=LOCK_WAIT_S):
            return update_history(layout)


def report_days(snapshot_ats: list[datetime]) -> list[date]:
    """The days whose reports a new snapshot changes, given the times of the latest committed snapshots (oldest
    first, the new one last): its own UTC day, and the previous snapshot's day when that was another one (the
    first snapshot of a day closes the day before: its last hours are measured up to this one)."""
    days = {t.astimezone(timezone.utc).date() for t in snapshot_ats[-REPORT_DAYS:]}
    return sorted(days)


def reports(layout: Layout, config: Config, days: list[date]) -> dict:
    """Step reports: store each day's report partition (through the report gate), read from the lake as
    committed (the catalog file is rebuilt once, by the next step). Returns day -> DayReports."""
    from pipeline.catalog.views import lake_connection
    from pipeline.reports.days import store_days
    from pipeline.reports.tables import IdleRule

    with _committed(layout):
        with writer_lock(layout, wait_s=LOCK_WAIT_S):
            con = lake_connection(layout)
            try:
                done = store_days(layout, con, days, period_hours=config.schedule.period_hours,
                                  prices=config.reports.prices, idle=IdleRule.of(config.reports))
            finally:
                con.close()
    hooks().reports.update(done)
    return done


def catalog(layout: Layout) -> Path:
    """Step catalog: rebuild inventory.duckdb and swap it in. A failure here leaves the committed data safe
    and the catalog stale: CatalogNotRefreshed (the next run's catalog step refreshes it)."""
    from pipeline.lake.commit import CatalogNotRefreshed, refresh_catalog

    try:
        with writer_lock(layout, wait_s=LOCK_WAIT_S):
            return refresh_catalog(layout)
    except (OSError, duckdb.Error) as exc:
        latest = hooks().result
        raise CatalogNotRefreshed(latest.snapshot_id if latest else "(latest)",
                                  latest.status if latest else "committed",
                                  no_space(exc) or _first_line(exc)) from exc


def cleanup(layout: Layout) -> None:
    """Step cleanup: crash debris; the rows of crashed or replaced writes once the grace period has passed (when
    a write's mark says there are some: one listing otherwise); and once a day the files no table version needs
    (store.collect_garbage). After the catalog step: a catalog left stale by a crashed run may name files that
    are no longer live, and must be replaced before they can be removed."""
    try:
        with writer_lock(layout, wait_s=LOCK_WAIT_S):
            daily = upkeep_due(layout)
            collect_garbage(layout, tables=daily or bool(layout.tables().pending()), vacuum=daily)
    except OSError as exc:
        log.warning("garbage collection skipped (the next run retries): %s", exc)


class _committed:
    """After the commit, a full disk leaves the data safe: say so (CatalogNotRefreshed) instead of a
    DuckDB traceback."""

    def __init__(self, layout: Layout):
        self.layout = layout

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        reason = no_space(exc) if exc is not None else None
        if reason is None:
            return False
        from pipeline.lake.commit import CatalogNotRefreshed

        latest = hooks().result
        raise CatalogNotRefreshed(latest.snapshot_id if latest else "(latest)",
                                  latest.status if latest else "committed", reason) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# ---------------------------------------------------------------------------------------------- whole runs


def run_snapshot(
    config: Config,
    *,
    credentials: Credentials | None = None,
    snapshot_at: datetime | None = None,
    on_call: OnCall | None = None,
    on_plan: Callable[[int], None] | None = None,
    lock_wait_s: float = 0.0,
    region: str | None = None,
) -> SnapshotResult:
    """Take one snapshot: the Dagster snapshot job, run in process on the persistent instance, holding the
    writer lock for the whole run (waiting up to `lock_wait_s` for another writer). `snapshot_at` defaults to
    now (UTC, whole seconds); re-using an id replaces that snapshot. `region`: that region's part only.

    With region partitions (schedule.partition_by: region) the jobs the schedule runs: region_snapshot_job for
    each region (or `region`), one after the other at the same snapshot time, then catalog_job once."""
    from pipeline.land.step import load_credentials
    from pipeline.runner import run_job

    if region is not None:
        config.for_region(region)  # an unknown region is a ConfigError before any work
    credentials = credentials or load_credentials(config)
    layout = config.layout()
    partitioned = config.schedule.partition_by == "region"
    results = []
    with writer_lock(layout, wait_s=lock_wait_s, for_steps=True):
        tags = {}
        if snapshot_at is not None or partitioned:  # every region's part at the same time
            moment = (snapshot_at or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
            tags["poolscope/snapshot_at"] = moment.isoformat()
        for part in ([region] if region else config.regions()) if partitioned else [region]:
            run_hooks = RunHooks(credentials=credentials, on_call=on_call, on_plan=on_plan)
            results.append(_run_checked(config, "region_snapshot_job" if partitioned else "snapshot_job",
                                        {**tags, **({"poolscope/region": part} if part and not partitioned else {})},
                                        run_hooks, partition_key=part if partitioned else None))
        if partitioned and not any(r.blocked_by for r in results):
            run_job(config, "catalog_job", hooks=RunHooks())
    return results[0] if len(results) == 1 else _combined(results)


def _run_checked(config: Config, job: str, tags: dict, run_hooks: RunHooks, *,
                 partition_key: str | None = None) -> SnapshotResult:
    """Run a job that commits a snapshot (or a region's part); its result, with the blocking checks that held the
    steps after the commit back."""
    from pipeline.runner import run_job
    # Dagster 1.13 exports no public name for it.
    from dagster._core.errors import DagsterAssetCheckFailedError

    try:
        run_job(config, job, tags=tags, hooks=run_hooks, partition_key=partition_key)
    except DagsterAssetCheckFailedError:
        if run_hooks.result is None:
            raise
        # Committed, and held back by a blocking check (every target failed, counts that do not add up):
        # as in any Dagster run, the steps after it did not run.
        run_hooks.result.blocked_by = [f"{c.table}: {c.name}" for c in run_hooks.result.checks
                                       if not c.passed and c.blocking]
    if run_hooks.result is None:  # cannot happen: the job raises when a step fails
        raise RuntimeError("the snapshot job finished without committing a snapshot")
    return run_hooks.result


def _combined(parts: list[SnapshotResult]) -> SnapshotResult:
    """The result of a snapshot taken a region at a time, from its parts' results."""
    statuses = {p.status for p in parts}
    errors: dict[str, int] = {}
    rows: dict[str, int] = {}
    for p in parts:
        for code, n in p.errors_by_code.items():
            errors[code] = errors.get(code, 0) + n
        for table, n in p.rows.items():
            rows[table] = rows.get(table, 0) + n
    return SnapshotResult(
        snapshot_id=parts[0].snapshot_id, status=statuses.pop() if len(statuses) == 1 else "partial",
        targets=sum(p.targets for p in parts), targets_ok=sum(p.targets_ok for p in parts),
        targets_failed=sum(p.targets_failed for p in parts), pools=sum(p.pools for p in parts),
        rejected=sum(p.rejected for p in parts), rows=rows, errors_by_code=errors,
        checks=[c for p in parts for c in p.checks], manifest=parts[-1].manifest,
        blocked_by=[b for p in parts for b in p.blocked_by], rates=[r for p in parts for r in p.rates])


def renormalize(config: Config, snapshot_ids: list[str] | None = None, lock_wait_s: float = 0.0) -> list[str]:
    """Rebuild committed snapshots' tables from their raw sets (all when `snapshot_ids` is None), then the
    history, the reports of the days concerned and the catalog: the renormalize job, in process."""
    from pipeline.runner import run_job

    layout = config.layout()
    with writer_lock(layout, wait_s=lock_wait_s, for_steps=True):
        ops = {"renormalized_tables": {"config": {"snapshot_ids": list(snapshot_ids or []),
                                                  "all": snapshot_ids is None}}}
        result = run_job(config, "renormalize_job", run_config={"ops": ops}, hooks=RunHooks())
    return result.output_for_node("renormalized_tables")
