"""Dagster code location (workspace.yaml loads this module).

Nothing is read at import time. The definitions are built when Dagster loads the code location: then the
schedule's cron (`schedule.cron`) and the first day of the daily report partitions (`reports.start_date`) are
taken from the file POOLSCOPE_CONFIG names (if any), while the resources read that file when a run starts.
"""

import os

import dagster as dg

from pipeline.assets.maintenance import compaction_definitions
from pipeline.assets.reports import pool_history, report_definitions
from pipeline.assets.resources import resources_for, resources_from_env
from pipeline.assets.schedules import snapshot_job, snapshot_schedule
from pipeline.assets.snapshot import inventory_catalog, pool_tables, raw_snapshot, renormalize_job
from pipeline.config import DEFAULT_CRON, ConfigError, Reports, load_config

CONFIG_ENV = "POOLSCOPE_CONFIG"


def build_definitions(config_path: str | None = None, *, bind: bool = False) -> dg.Definitions:
    """The code location's definitions. `bind`: resources read `config_path` itself (an in-process run of
    pipeline/runner.py), instead of the file POOLSCOPE_CONFIG names when a run starts."""
    cron, tz, start = DEFAULT_CRON, "UTC", Reports().start_date
    if config_path:
        try:
            config = load_config(config_path)
            cron, tz, start = config.schedule.cron, config.schedule.timezone, config.reports.start_date
        except ConfigError:
            pass  # the run itself reports the config error, with the file and key, when it starts
    report_assets, reports_job, reports_schedule = report_definitions(start)
    compaction, compaction_job, compaction_schedule = compaction_definitions(start)
    return dg.Definitions(
        assets=[raw_snapshot, pool_tables, inventory_catalog, pool_history, *report_assets, compaction],
        jobs=[snapshot_job, renormalize_job, reports_job, compaction_job],
        schedules=[snapshot_schedule(cron, tz), reports_schedule, compaction_schedule],
        resources=resources_for(config_path) if bind and config_path else resources_from_env(CONFIG_ENV),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(os.environ.get(CONFIG_ENV))
