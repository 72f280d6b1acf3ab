"""Lake upkeep: the daily compaction of the snapshot files into one file per table and day."""

from datetime import date

import dagster as dg

from pipeline.assets.common import asset_kwargs
from pipeline.assets.resources import LakeResource
from pipeline.assets.snapshot import TABLES as SNAPSHOT_TABLES
from pipeline.flow import LOCK_WAIT_S
from pipeline.lake.compaction import compact_lake

MAINTENANCE_GROUP = "maintenance"


def compaction_definitions(start_date: date):
    """The daily-partitioned compaction asset, its job and its schedule (after midnight UTC, before the
    daily reports at 01:15, so that they read the compacted day)."""
    daily = dg.DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC")

    @dg.asset(
        name="lake_compaction", group_name=MAINTENANCE_GROUP, kinds={"parquet"}, partitions_def=daily,
        **asset_kwargs("maintenance"),
        deps=[dg.AssetKey(t) for t in SNAPSHOT_TABLES],
        description="One UTC day of the snapshot tables rewritten as one Parquet file per table (instead of one "
                    "per snapshot), committed atomically by the day's record in lake/_days/. Queries answer the "
                    "same before and after; a day already compact is left alone.",
    )
    def lake_compaction(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        day = context.partition_key
        result = compact_lake(lake.layout(), [day], lock_wait_s=LOCK_WAIT_S,
                              on_day=lambda d, n, total: context.log.info(f"compacted {d} ({n}/{total})"))
        context.log.info(
            f"{day}: {result.files_before} file(s) -> {result.files_after}, {result.rows} row(s) in "
            f"{result.seconds:.1f}s" if result.days else f"{day}: already compact (or no snapshot that day)")
        return dg.MaterializeResult(metadata={
            "day": day, "compacted": bool(result.days), "files_before": result.files_before,
            "files_after": result.files_after, "rows": result.rows, "seconds": round(result.seconds, 3),
            "replaced_files_removed": result.garbage.get("table_files", 0),
        })

    job = dg.define_asset_job("compaction_job", selection=dg.AssetSelection.groups(MAINTENANCE_GROUP),
                              description="Compact one UTC day of snapshot files into one file per table.")
    schedule = dg.build_schedule_from_partitioned_job(job, hour_of_day=0, minute_of_hour=30,
                                                      name="compaction_schedule")
    return lake_compaction, job, schedule
