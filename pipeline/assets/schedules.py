"""The snapshot job and its schedule; with region partitions (schedule.partition_by: region), the region job, a
run per region each hour, and the sensor that runs the history, reports and catalog once per snapshot."""

from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import dagster as dg

from pipeline.assets.reports import HISTORY_GROUP
from pipeline.assets.snapshot import GROUP, SNAPSHOT_AT_TAG, TABLES
from pipeline.config import DEFAULT_CRON, Config, default_endpoint

snapshot_job = dg.define_asset_job(
    "snapshot_job",
    selection=dg.AssetSelection.groups(GROUP, HISTORY_GROUP),
    description="One inventory snapshot: land, normalize + check + commit, refresh the catalog and the history.",
)

# Region partitions: a region's part of the snapshot, and what runs once all parts are in.
# Both run their steps one after the other in the run's own process: a step per process would start two more
# interpreters (and load the code location twice more) per region per hour, for no parallelism.
region_snapshot_job = dg.define_asset_job(
    "region_snapshot_job",
    selection=dg.AssetSelection.assets("raw_snapshot", *TABLES),
    executor_def=dg.in_process_executor,
    description="One region's part of a snapshot (a partition per region): land, normalize + check + commit.",
)
catalog_job = dg.define_asset_job(
    "catalog_job",
    executor_def=dg.in_process_executor,
    selection=dg.AssetSelection.groups(HISTORY_GROUP) | dg.AssetSelection.assets("inventory_catalog"),
    description="The history, the reports of the snapshot's days and the catalog, once every region of a snapshot "
                "has committed (snapshot_catalog_sensor), or when the wait for a missing region ran out.",
)
ENDPOINT_TAG = "poolscope/api_endpoint"  # the run queue's limit per ModelArts endpoint (deploy/dagster.yaml)
CATALOG_WAIT = timedelta(minutes=45)  # a region that has not committed by then does not hold the others back


def snapshot_schedule(cron: str = DEFAULT_CRON, timezone: str = "UTC") -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="snapshot_schedule",
        job=snapshot_job,
        cron_schedule=cron,
        execution_timezone=timezone,
        description=f"Takes a snapshot on '{cron}' ({timezone}); the cron comes from schedule.cron in the config.",
    )


def region_endpoints(config: Config) -> dict[str, str]:
    """region -> the host(s) of the ModelArts endpoint(s) its targets are read from (the run queue key)."""
    hosts: dict[str, set[str]] = {}
    for t in config.targets:
        hosts.setdefault(t.region, set()).add(urlsplit(t.base_url).netloc)
    if config.discover is not None:
        for r in config.discover.regions:
            hosts.setdefault(r, set()).add(urlsplit(config.discover.endpoint or default_endpoint(r)).netloc)
    return {r: "+".join(sorted(h)) for r, h in sorted(hosts.items())}


def region_requests(config: Config, at: datetime) -> list[dg.RunRequest]:
    """A run per region, all for the same snapshot time, each tagged with its endpoint."""
    moment = at.astimezone(timezone.utc).replace(microsecond=0).isoformat()
    return [dg.RunRequest(run_key=f"{region}@{moment}", partition_key=region,
                          tags={SNAPSHOT_AT_TAG: moment, ENDPOINT_TAG: host})
            for region, host in region_endpoints(config).items()]


def region_snapshot_schedule(config: Config) -> dg.ScheduleDefinition:
    cron, tz = config.schedule.cron, config.schedule.timezone

    @dg.schedule(name="snapshot_schedule", job=region_snapshot_job, cron_schedule=cron, execution_timezone=tz,
                 description=f"On '{cron}' ({tz}): a run per region of the config ({', '.join(config.regions())}), "
                             "all with the same snapshot time; each waits in its endpoint's run queue "
                             f"({ENDPOINT_TAG}).")
    def _schedule(context: dg.ScheduleEvaluationContext):
        return region_requests(config, context.scheduled_execution_time or datetime.now(timezone.utc))

    return _schedule


def catalog_due(config: Config, manifests, cursor: str | None, now: datetime) -> str | None:
    """The snapshot whose history, reports and catalog are due: the latest committed one, once every region of the
    config has committed its part (or CATALOG_WAIT has passed since its time), if not done yet (`cursor`)."""
    if not manifests:
        return None
    latest = manifests[-1]
    if cursor is not None and latest.snapshot_id <= cursor:
        return None
    whole = not latest.parts  # a whole write read every region
    done = whole or set(config.regions()) <= set(latest.parts)
    at = datetime.fromisoformat(latest.snapshot_at)
    return latest.snapshot_id if done or now - at >= CATALOG_WAIT else None


def snapshot_catalog_sensor(config: Config) -> dg.SensorDefinition:
    from pipeline.lake.store import read_manifests

    @dg.sensor(name="snapshot_catalog_sensor", job=catalog_job, minimum_interval_seconds=30,
               description="Runs the history, reports and catalog once per snapshot, when every region has "
                           f"committed its part (or {int(CATALOG_WAIT.total_seconds() // 60)} minutes after the "
                           "snapshot time).")
    def _sensor(context: dg.SensorEvaluationContext):
        due = catalog_due(config, read_manifests(config.layout()), context.cursor, datetime.now(timezone.utc))
        if due is None:
            return dg.SkipReason("no snapshot whose regions have all committed since the last catalog run")
        context.update_cursor(due)
        return dg.RunRequest(run_key=f"catalog@{due}", tags={"poolscope/snapshot_id": due})

    return _sensor
