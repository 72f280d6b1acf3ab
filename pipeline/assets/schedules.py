"""The snapshot job and its schedule."""

import dagster as dg

from pipeline.assets.reports import HISTORY_GROUP
from pipeline.assets.snapshot import GROUP
from pipeline.config import DEFAULT_CRON

snapshot_job = dg.define_asset_job(
    "snapshot_job",
    selection=dg.AssetSelection.groups(GROUP, HISTORY_GROUP),
    description="One inventory snapshot: land, normalize + check + commit, refresh the catalog and the history.",
)


def snapshot_schedule(cron: str = DEFAULT_CRON, timezone: str = "UTC") -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="snapshot_schedule",
        job=snapshot_job,
        cron_schedule=cron,
        execution_timezone=timezone,
        description=f"Takes a snapshot on '{cron}' ({timezone}); the cron comes from schedule.cron in the config.",
    )
