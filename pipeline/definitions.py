"""Dagster code location (workspace.yaml loads this module).

Nothing is read at import time. The definitions are built when Dagster loads the code location: then the
schedule's cron is taken from `schedule.cron` of the file POOLSCOPE_CONFIG names (if any), while the resource
reads that file only when a run starts.
"""

import os

import dagster as dg

from pipeline.assets.resources import resources_from_env
from pipeline.assets.schedules import snapshot_job, snapshot_schedule
from pipeline.assets.snapshot import inventory_catalog, pool_tables, raw_snapshot
from pipeline.config import DEFAULT_CRON, ConfigError, load_config

CONFIG_ENV = "POOLSCOPE_CONFIG"


def build_definitions(config_path: str | None = None) -> dg.Definitions:
    cron, tz = DEFAULT_CRON, "UTC"
    if config_path:
        try:
            schedule = load_config(config_path).schedule
            cron, tz = schedule.cron, schedule.timezone
        except ConfigError:
            pass  # the run itself reports the config error, with the file and key, when it starts
    return dg.Definitions(
        assets=[raw_snapshot, pool_tables, inventory_catalog],
        jobs=[snapshot_job],
        schedules=[snapshot_schedule(cron, tz)],
        resources=resources_from_env(CONFIG_ENV),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(os.environ.get(CONFIG_ENV))
