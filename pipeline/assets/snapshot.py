"""The snapshot assets: raw landing -> normalized tables (with blocking checks) -> DuckDB catalog.

They call the same functions as `poolscope snapshot` (pipeline/snapshot.py), step by step.
"""

import dagster as dg

from pipeline.assets.metadata import table_metadata, table_spec
from pipeline.assets.resources import LakeResource, ModelArtsResource
from pipeline.lake.checks import CHECKS, check_description
from pipeline.lake.docs import table_docs
from pipeline.lake.layout import Layout
from pipeline.lake.normalize import TABLES as POOL_TABLES
from pipeline.lake.space import check_free_space
from pipeline.lake.store import LakeBusyError, read_manifests, writer_lock
from pipeline.snapshot import check, commit_staged, land, prepare_write, refresh_catalog, stage

GROUP = "snapshot"
TABLES: tuple[str, ...] = ("snapshots", "fetches", "flavors", *POOL_TABLES)
LOCK_WAIT_S = 900.0


def _progress_logger(context: dg.AssetExecutionContext):
    state = {"total": 0, "done": 0, "errors": 0, "next": 0}

    def on_plan(total: int) -> None:
        state["total"] = total
        context.log.info(f"fetching {total} call(s)")

    def on_call(record) -> None:
        if record.call not in ("list_pools", "show_pool"):
            return
        state["done"] += 1
        state["errors"] += record.outcome != "ok"
        # About ten progress lines per run, whatever its size.
        if state["done"] >= state["next"] or state["done"] == state["total"]:
            context.log.info(f"fetched {state['done']}/{state['total']} call(s), {state['errors']} error(s)")
            state["next"] = state["done"] + max(1, state["total"] // 10)

    return on_plan, on_call


@dg.asset(
    group_name=GROUP,
    kinds={"python", "json"},
    description="Every ModelArts pool response of one snapshot, landed byte for byte under lake/raw/ with each "
    "call's status, request id, attempts and timing. Nothing is parsed before it is landed.",
)
def raw_snapshot(context: dg.AssetExecutionContext, modelarts: ModelArtsResource) -> dg.Output[dict]:
    config = modelarts.config()
    credentials = modelarts.credentials()
    snapshot_at = None
    scheduled = context.run.tags.get("dagster/scheduled_execution_time")
    if scheduled:
        from datetime import datetime

        snapshot_at = datetime.fromisoformat(scheduled)
    layout = Layout(config.root)
    # Crashed runs' debris, then the free-space check (StorageFullError). Landing never waits for the lock: when
    # another writer holds it, that writer cleans up, and only the free space is checked here.
    try:
        with writer_lock(layout):
            prepare_write(layout, config)
    except LakeBusyError:
        check_free_space(layout.root, config.storage.min_free_mb)
    on_plan, on_call = _progress_logger(context)
    snapshot_id, raw_dir = land(config, credentials, snapshot_at, on_call=on_call, on_plan=on_plan)
    calls = sum(1 for _ in open(raw_dir / "calls.jsonl", encoding="utf-8"))
    return dg.Output(
        {"snapshot_id": snapshot_id, "raw_dir": str(raw_dir)},
        metadata={"snapshot_id": snapshot_id, "raw_dir": dg.MetadataValue.path(str(raw_dir)), "calls": calls},
    )


@dg.multi_asset(
    specs=[table_spec(t, GROUP, [raw_snapshot]) for t in TABLES],
    check_specs=[
        dg.AssetCheckSpec(name, asset=table, blocking=True, description=check_description(name))
        for name, table in CHECKS.items()
    ],
    ins={"raw_snapshot": dg.AssetIn()},
    name="pool_tables",
)
def pool_tables(context: dg.AssetExecutionContext, lake: LakeResource, raw_snapshot: dict):
    """Normalize the raw snapshot with the SQL in sql/normalize/, check it, commit it to the lake."""
    from pathlib import Path

    layout = lake.layout()
    snapshot_id, raw_dir = raw_snapshot["snapshot_id"], Path(raw_snapshot["raw_dir"])
    staged = stage(layout, raw_dir, snapshot_id)
    outcomes = check(staged)
    metadata = {t: table_metadata(p, table_docs().get(t), staged.rows.get(t, 0)) for t, p in staged.files.items()}
    with writer_lock(layout, wait_s=LOCK_WAIT_S):
        manifest = commit_staged(layout, staged, outcomes)
    context.log.info(
        f"snapshot {snapshot_id}: {staged.status}, {staged.targets_ok}/{staged.targets} target(s) ok, "
        f"{staged.rows.get('pools', 0)} pool(s), {staged.rows.get('rejected_documents', 0)} rejected document(s)"
    )
    for table in TABLES:
        meta = dict(metadata.get(table, {}))
        info = manifest.tables.get(table)
        if info:
            meta["path"] = dg.MetadataValue.path(str(layout.root / info["file"]))
        meta["snapshot_id"] = snapshot_id
        yield dg.MaterializeResult(asset_key=table, metadata=meta)
    for o in outcomes:
        yield dg.AssetCheckResult(
            asset_key=o.table, check_name=o.name, passed=o.passed,
            metadata={"snapshot_id": snapshot_id, "offending_rows": o.failures,
                      "sample": dg.MetadataValue.json(_jsonable(o.sample))},
        )


def _jsonable(rows: list[dict]) -> list[dict]:
    return [{k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in r.items()}
            for r in rows]


@dg.asset(
    group_name=GROUP,
    kinds={"duckdb"},
    deps=[dg.AssetKey(t) for t in TABLES],
    description="inventory.duckdb: documented views over every committed snapshot of the lake. Rebuilt whole and "
    "swapped in atomically, so an open reader is never blocked and never sees half a snapshot.",
)
def inventory_catalog(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    layout: Layout = lake.layout()
    with writer_lock(layout, wait_s=LOCK_WAIT_S):
        path = refresh_catalog(layout)
    manifests = read_manifests(layout)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(path)),
        "snapshots": len(manifests),
        "latest_snapshot": manifests[-1].snapshot_id if manifests else "",
        "open_with": dg.MetadataValue.md(f"```\nduckdb -readonly {path}\n```"),
    })
