"""The snapshot assets: raw landing -> normalized tables (with blocking checks) -> history -> DuckDB catalog.

Each asset runs steps of pipeline/flow.py, in its order; `poolscope snapshot` runs this very job in process
(pipeline/runner.py), so the CLI and Dagster share one path.
"""

import shlex

import dagster as dg
import duckdb

from datetime import datetime

from pipeline import flow
from pipeline.assets.common import asset_kwargs
from pipeline.assets.metadata import table_metadata, table_spec
from pipeline.assets.resources import LakeResource, ModelArtsResource
from pipeline.check.checks import CHECKS, WARN_CHECKS, check_description
from pipeline.catalog.docs import table_docs
from pipeline.lake.layout import Layout, snapshot_at_of
from pipeline.normalize.documents import TABLES as POOL_TABLES
from pipeline.lake.bucket_sync import local_raw
from pipeline.lake.store import read_manifests
from pipeline.land.fetch import planned
from pipeline.land.step import read_run

GROUP = "snapshot"
TABLES: tuple[str, ...] = ("snapshots", "fetches", "flavors", "virtual_flavors", "projects", *POOL_TABLES,
                           "pool_allocation", "pool_workload_counts", "pool_metrics", "nodes", "node_resources",
                           "workload_statistics", "pool_events")
SNAPSHOT_AT_TAG = "poolscope/snapshot_at"  # set by an in-process caller (the CLI, the demo's clock)


def _progress_logger(context: dg.AssetExecutionContext, hooks: flow.RunHooks):
    """Counts in the Dagster log (about ten lines per run), and the in-process caller's callbacks (a progress
    bar) when there is one."""
    state = {"total": 0, "done": 0, "errors": 0, "next": 0}

    def on_plan(total: int) -> None:  # again with a larger total once the per-pool calls are known
        state["total"] = total
        context.log.info(f"fetching {total} call(s)")
        if hooks.on_plan:
            hooks.on_plan(total)

    def on_call(record) -> None:
        if hooks.on_call:
            hooks.on_call(record)
        if not planned(record):
            return
        state["done"] += 1
        state["errors"] += record.outcome != "ok"
        # About ten progress lines per run, whatever its size.
        if state["done"] >= state["next"] or state["done"] == state["total"]:
            context.log.info(f"fetched {state['done']}/{state['total']} call(s), {state['errors']} error(s)")
            state["next"] = state["done"] + max(1, state["total"] // 10)

    return on_plan, on_call


DEFAULT_API_POOL = "modelarts_api"


REGION_TAG = "poolscope/region"  # a run of one region's part of the snapshot (`poolscope snapshot --region`)


def run_region(context) -> str | None:
    """The region a run takes its part of the snapshot of: its partition (region partitions), else its tag, else
    None (every region)."""
    if context.has_partition_key:
        return context.partition_key
    return context.run.tags.get(REGION_TAG)


def raw_snapshot_asset(pool: str = DEFAULT_API_POOL,
                       partitions_def: dg.PartitionsDefinition | None = None) -> dg.AssetsDefinition:
    """The landing asset, in the Dagster concurrency pool `pool` (one per API endpoint: pipeline/definitions.py
    names it from the config), so that runs started at once take turns at the gateway's throttle. With
    `partitions_def` (schedule.partition_by: region), a partition per region."""

    @dg.asset(
        name="raw_snapshot",
        group_name=GROUP,
        kinds={"python", "json"},
        pool=pool,
        partitions_def=partitions_def,
        description="Every ModelArts pool response of one snapshot, landed byte for byte under lake/raw/ with "
        "each call's status, request id, attempts and timing. Nothing is parsed before it is landed.",
        **asset_kwargs("raw"),
    )
    def raw_snapshot(context: dg.AssetExecutionContext, modelarts: ModelArtsResource) -> dg.Output[dict]:
        config = modelarts.config()
        hooks = flow.hooks()
        credentials = hooks.credentials or modelarts.credentials()
        when = context.run.tags.get(SNAPSHOT_AT_TAG) or context.run.tags.get("dagster/scheduled_execution_time")
        snapshot_at = datetime.fromisoformat(when) if when else None
        on_plan, on_call = _progress_logger(context, hooks)
        snapshot_id, raw_dir = flow.land(config, credentials, snapshot_at, on_call=on_call, on_plan=on_plan,
                                         region=run_region(context))
        calls = sum(1 for _ in open(raw_dir / "calls.jsonl", encoding="utf-8"))
        rates = read_run(raw_dir).get("rates") or []
        # What the gateway allowed: the pace each endpoint settled on and the 429s met (table snapshots too).
        pace = {"settled_rps": sum(r.get("settled_rps") or 0 for r in rates),
                "throttled_429s": sum(r.get("throttled") or 0 for r in rates),
                "rates": dg.MetadataValue.json(rates)} if rates else {}
        return dg.Output(
            {"snapshot_id": snapshot_id, "raw_dir": str(raw_dir)},
            metadata={"snapshot_id": snapshot_id, "raw_dir": dg.MetadataValue.path(str(raw_dir)), "calls": calls,
                      **pace},
        )

    return raw_snapshot


raw_snapshot = raw_snapshot_asset()


def pool_tables_asset(partitions_def: dg.PartitionsDefinition | None = None) -> dg.AssetsDefinition:
    """The normalized tables of a snapshot (per region with `partitions_def`, as raw_snapshot)."""

    @dg.multi_asset(
        specs=[table_spec(t, GROUP, [dg.AssetKey("raw_snapshot")], layer="tables", sql=("normalize", "checks"))
               for t in TABLES],
        check_specs=[
            dg.AssetCheckSpec(name, asset=table, blocking=name in CHECKS, description=check_description(name))
            for name, table in {**CHECKS, **WARN_CHECKS}.items()
        ],
        ins={"raw_snapshot": dg.AssetIn()},
        name="pool_tables",
        partitions_def=partitions_def,
    )
    def pool_tables(context: dg.AssetExecutionContext, lake: LakeResource, raw_snapshot: dict):
        """Normalize the raw snapshot with the SQL in sql/normalize/, check it, commit it to the lake."""
        yield from _pool_tables(context, lake, raw_snapshot)

    return pool_tables


def _pool_tables(context: dg.AssetExecutionContext, lake: LakeResource, raw_snapshot: dict):
    """Normalize the raw snapshot with the SQL in sql/normalize/, check it, commit it to the lake."""
    from pathlib import Path

    layout = lake.layout()
    snapshot_id, raw_dir = raw_snapshot["snapshot_id"], Path(raw_snapshot["raw_dir"])
    staged = flow.normalize(layout, raw_dir, snapshot_id)
    outcomes = flow.check(staged)
    con = duckdb.connect(":memory:")
    try:
        metadata = {t: table_metadata(p, table_docs().get(t), staged.rows.get(t, 0), con=con)
                    for t, p in staged.files.items()}
    finally:
        con.close()
    manifest = flow.commit(layout, staged, outcomes).manifest
    context.log.info(
        f"snapshot {snapshot_id}: {staged.status}, {staged.targets_ok}/{staged.targets} target(s) ok, "
        f"{staged.rows.get('pools', 0)} pool(s), {staged.rejected} rejected document(s)"
    )
    for table in TABLES:
        meta = dict(metadata.get(table, {}))
        if table in manifest.tables:
            meta["path"] = dg.MetadataValue.path(str(layout.table_dir(table)))
        meta["snapshot_id"] = snapshot_id
        yield dg.MaterializeResult(asset_key=table, metadata=meta)
    for o in outcomes:
        yield dg.AssetCheckResult(
            asset_key=o.table, check_name=o.name, passed=o.passed, severity=dg.AssetCheckSeverity(o.severity),
            metadata={"snapshot_id": snapshot_id, "offending_rows": o.failures,
                      "sample": dg.MetadataValue.json(_jsonable(o.sample))},
        )



pool_tables = pool_tables_asset()


def _jsonable(rows: list[dict]) -> list[dict]:
    return [{k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in r.items()}
            for r in rows]


@dg.asset(
    group_name=GROUP,
    kinds={"duckdb"},
    **asset_kwargs("catalog", "catalog", "reports"),
    deps=[dg.AssetKey(t) for t in (*TABLES, "pool_changes", "pool_versions")],
    description="inventory.duckdb: documented views over every committed snapshot of the lake, the history and the "
    "daily reports (the latest snapshot's day, and at a day's first snapshot the day before, are recomputed first). Rebuilt whole and swapped "
    "in atomically, so an open reader is never blocked and never sees half a snapshot. Then files nothing names "
    "any more are removed.",
)
def inventory_catalog(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    config = lake.config()
    layout: Layout = lake.layout()
    manifests = read_manifests(layout)
    latest = manifests[-1] if manifests else None
    days = flow.report_days([snapshot_at_of(m.snapshot_id) for m in manifests[-flow.REPORT_DAYS:]])
    reports = flow.reports(layout, config, days) if days else {}
    path = flow.catalog(layout)
    flow.cleanup(layout)
    _record_report_partitions(context, reports, config.reports.start_date)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(path)),
        "snapshots": len(manifests),
        "latest_snapshot": latest.snapshot_id if latest else "",
        "report_days": dg.MetadataValue.json([d.isoformat() for d in days]),
        # the read-only SQL shell on the catalog (README "Query it from your tools" lists the other tools)
        "open_with": dg.MetadataValue.md(f"```\npoolscope sql --config {shlex.quote(str(config.path))}\n```"),
    })


def _record_report_partitions(context: dg.AssetExecutionContext, reports: dict, start) -> None:
    """The report days this run stored are those days' partitions of the report assets: record them as
    materializations, so the UI shows them filled (days before the partitions' start, reports.start_date, are
    no partition and are left out)."""
    from pipeline.reports.tables import REPORTS

    for day, result in reports.items():
        if day < start:
            continue
        for name in REPORTS:
            context.log_event(dg.AssetMaterialization(
                asset_key=name, partition=day.isoformat(),
                metadata={"rows": result.rows.get(name, 0), "coverage_complete": result.coverage.complete,
                          "by": "inventory_catalog (snapshot job)"}))


class RenormalizeConfig(dg.Config):
    snapshot_ids: list[str] = []  # committed snapshot ids to rebuild
    all: bool = False  # every committed snapshot instead


@dg.op(description="Rebuild committed snapshots' tables from their raw landing (normalize, check, commit), e.g. "
                   "after a parser fix.")
def renormalized_tables(context: dg.OpExecutionContext, config: RenormalizeConfig, lake: LakeResource) -> list[str]:
    layout = lake.layout()
    manifests = {m.snapshot_id: m for m in read_manifests(layout)}
    wanted = sorted(manifests) if config.all else list(config.snapshot_ids)
    missing = [sid for sid in wanted if sid not in manifests]
    if missing:
        raise KeyError(f"no committed snapshot {missing[0]} under {layout.root}")
    for n, sid in enumerate(wanted, 1):
        pools = 0
        for raw in manifests[sid].raw_dirs:  # a snapshot taken a region at a time: each region's raw set
            staged = flow.normalize(layout, local_raw(layout, raw), sid)
            flow.commit(layout, staged, flow.check(staged))
            pools += staged.rows.get("pools", 0)
        context.log.info(f"renormalized {sid} ({n}/{len(wanted)}): {pools} pool(s)")
    return wanted


@dg.op(description="After renormalizing: the history, the latest snapshot's report days, the catalog, cleanup.")
def renormalized_catalog(context: dg.OpExecutionContext, lake: LakeResource, renormalized: list[str]) -> None:
    config, layout = lake.config(), lake.layout()
    flow.history(layout)
    manifests = read_manifests(layout)
    days = flow.report_days([snapshot_at_of(m.snapshot_id) for m in manifests[-flow.REPORT_DAYS:]])
    if days:
        flow.reports(layout, config, days)
    flow.catalog(layout)
    flow.cleanup(layout)


@dg.job(description="Rebuild snapshots' tables from the raw landing (config: snapshot_ids, or all), then the "
                    "history and the catalog. `poolscope renormalize` runs this job.")
def renormalize_job():
    renormalized_catalog(renormalized_tables())
