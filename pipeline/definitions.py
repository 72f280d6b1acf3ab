"""Dagster code location (workspace.yaml loads this module).

Nothing is read at import time. The definitions are built when Dagster loads the code location: then the
schedule's cron (`schedule.cron`), the first day of the daily report partitions (`reports.start_date`) and the
API's concurrency pool are taken from the file POOLSCOPE_CONFIG names (if any; a bad file fails the load, naming
the file and the key), while the resources read that file once when a run starts.
"""

import os
from urllib.parse import urlsplit

import dagster as dg

from pipeline.assets.maintenance import compaction_definitions
from pipeline.assets.reports import pool_history, report_definitions
from pipeline.assets.resources import resources_for, resources_from_env
from pipeline.assets.schedules import (catalog_job, region_snapshot_job, region_snapshot_schedule, snapshot_job,
                                       snapshot_catalog_sensor, snapshot_schedule)
from pipeline.assets.snapshot import (inventory_catalog, pool_tables, pool_tables_asset, raw_snapshot,
                                      raw_snapshot_asset, renormalize_job)
from pipeline.config import DEFAULT_CRON, Config, Reports, default_endpoint, load_config

CONFIG_ENV = "POOLSCOPE_CONFIG"


def api_pool(config: Config) -> str:
    """The Dagster concurrency pool of the landing: one per ModelArts API endpoint (the gateway whose throttle
    concurrent runs share), named after the endpoints' hosts; a config that reads several endpoints holds them as
    one pool."""
    urls = {t.base_url for t in config.targets}
    if config.discover is not None:
        urls |= {config.discover.endpoint or default_endpoint(r) for r in config.discover.regions}
    hosts = sorted(urlsplit(u).netloc for u in urls)
    return "modelarts_api/" + "+".join(hosts)


def build_definitions(config_path: str | None = None, *, bind: bool = False) -> dg.Definitions:
    """The code location's definitions. `config_path`: the config file (the schedule's cron, the reports' first
    day and the API pool are taken from it); a bad file raises ConfigError naming the file and the key, so that
    Dagster shows the code location as failed to load instead of running with defaults. None: the defaults
    (the UI can show the graph; a run fails until POOLSCOPE_CONFIG names a file). `bind`: resources read
    `config_path` itself (an in-process run of pipeline/runner.py), instead of the file POOLSCOPE_CONFIG names
    when a run starts."""
    cron, tz, start, raw, tables = DEFAULT_CRON, "UTC", Reports().start_date, raw_snapshot, pool_tables
    jobs, schedule, sensors = [snapshot_job], snapshot_schedule(cron, tz), []
    if config_path:
        config = load_config(config_path)
        cron, tz, start = config.schedule.cron, config.schedule.timezone, config.reports.start_date
        schedule = snapshot_schedule(cron, tz)
        raw = raw_snapshot_asset(api_pool(config))
        if config.schedule.partition_by == "region":
            # A run per region each hour (each in its endpoint's run queue), then the history, reports and
            # catalog once (snapshot_catalog_sensor); `poolscope snapshot` runs the same jobs in process.
            regions = dg.StaticPartitionsDefinition(config.regions())
            # No op pool: a pool is one per asset, and would queue every region behind one; the region runs
            # queue per endpoint on their run tag instead (schedules.ENDPOINT_TAG, deploy/dagster.yaml).
            raw = raw_snapshot_asset(None, regions)
            tables = pool_tables_asset(regions)
            jobs = [snapshot_job, region_snapshot_job, catalog_job]
            schedule, sensors = region_snapshot_schedule(config), [snapshot_catalog_sensor(config)]
    report_assets, reports_job, reports_schedule = report_definitions(start)
    compaction, compaction_job, compaction_schedule = compaction_definitions(start)
    return dg.Definitions(
        assets=[raw, tables, inventory_catalog, pool_history, *report_assets, compaction],
        jobs=[*jobs, renormalize_job, reports_job, compaction_job],
        schedules=[schedule, reports_schedule, compaction_schedule],
        sensors=sensors,
        resources=resources_for(config_path) if bind and config_path else resources_from_env(CONFIG_ENV),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(os.environ.get(CONFIG_ENV))
