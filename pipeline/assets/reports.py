"""History and report assets. History follows every snapshot (one fold per new snapshot); reports are daily
partitions (backfillable from stored snapshots) through the report gate of pipeline/reports/days.py, the same one
`poolscope report` applies (a snapshot that failed an integrity check is left out; a partial one counts for what
it read), with what they miss in their metadata; exports write the files finance opens, each stating that
coverage."""

from datetime import date, timedelta

import dagster as dg

from pipeline.assets.common import asset_kwargs
from pipeline.assets.metadata import table_metadata, table_spec
from pipeline.assets.resources import LakeResource
from pipeline.assets.snapshot import TABLES as SNAPSHOT_TABLES
from pipeline.catalog.docs import table_docs
from pipeline.history.store import history_sources
from pipeline.reports.tables import REPORTS, IdleRule
from pipeline import flow
from pipeline.reports.days import HISTORY_TABLES, build_day, export

HISTORY_GROUP = "history"
REPORTS_GROUP = "reports"


@dg.multi_asset(
    specs=[table_spec(t, HISTORY_GROUP, [dg.AssetKey(s) for s in SNAPSHOT_TABLES], layer="history", sql=("history",))
           for t in HISTORY_TABLES],
    name="pool_history",
)
def pool_history(context: dg.AssetExecutionContext, lake: LakeResource):
    """pool_changes and pool_versions, moved forward by every committed snapshot not folded in yet."""
    layout = lake.layout()
    result = flow.history(layout)
    rows = result.rows
    context.log.info(", ".join(f"{t}: {n} rows" for t, n in rows.items())
                     + (f"; folded {len(result.folded)} snapshot(s)" if result.folded else "")
                     + (f"; rebuilt: {result.rebuilt}" if result.rebuilt else ""))
    sources = history_sources(layout)
    for table in HISTORY_TABLES:
        yield dg.MaterializeResult(asset_key=table, metadata=table_metadata(
            layout.history, table_docs().get(table), rows.get(table, 0), select=sources[table]))


def report_definitions(start_date: date):
    """The daily-partitioned report assets, their job and schedule (partitions start at `start_date`)."""
    daily = dg.DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC")
    upstream = [dg.AssetKey(t) for t in (*SNAPSHOT_TABLES, *HISTORY_TABLES)]

    @dg.multi_asset(specs=[table_spec(r, REPORTS_GROUP, upstream, daily, layer="reports", sql=("reports",))
                           for r in REPORTS], partitions_def=daily,
                    name="daily_reports")
    def daily_reports(context: dg.AssetExecutionContext, lake: LakeResource):
        """One UTC day of every report, without the snapshots that failed an integrity check; the metadata
        states what the day's reports miss (`coverage`)."""
        config = lake.config()
        day = date.fromisoformat(context.partition_key)
        layout = lake.layout()
        result = build_day(layout, day, period_hours=config.schedule.period_hours, prices=config.reports.prices,
                           idle=IdleRule.of(config.reports))
        if not result.coverage.complete:
            context.log.warning("\n".join(result.coverage.lines()))
        coverage = _coverage_metadata(result.coverage)
        for name in REPORTS:
            path = layout.lake / "reports" / name / f"day={day.isoformat()}.parquet"
            yield dg.MaterializeResult(asset_key=name, metadata={
                **table_metadata(path, table_docs().get(name), result.rows.get(name, 0)), "day": day.isoformat(),
                **coverage})

    @dg.asset(group_name=REPORTS_GROUP, kinds={"xlsx", "csv", "html"}, partitions_def=daily,
              **asset_kwargs("reports", "reports"),
              deps=[dg.AssetKey(r) for r in REPORTS],
              description="The reports of the trailing window (reports.window_days) ending on the partition's "
                          "day, exported as XLSX, CSV and a self-contained HTML page with charts.")
    def report_exports(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        config = lake.config()
        to_day = date.fromisoformat(context.partition_key)
        from_day = to_day - timedelta(days=config.reports.window_days - 1)
        out = config.exports_dir / to_day.isoformat()
        result = export(config, from_day, to_day, out_dir=out)
        meta = {f"{fmt}_files": dg.MetadataValue.json([str(p) for p in paths]) for fmt, paths in result.files.items()}
        meta.update({f"{name}_rows": n for name, n in result.rows.items()})
        meta["folder"] = dg.MetadataValue.path(str(out))
        meta.update(_coverage_metadata(result.coverage))
        return dg.MaterializeResult(metadata=meta)

    job = dg.define_asset_job("daily_reports_job", selection=dg.AssetSelection.groups(REPORTS_GROUP),
                              description="One day's reports and the exports of the window ending that day.")
    schedule = dg.build_schedule_from_partitioned_job(job, hour_of_day=1, minute_of_hour=15,
                                                      name="daily_reports_schedule")
    return [daily_reports, report_exports], job, schedule


def _coverage_metadata(coverage) -> dict:
    return {
        "coverage": dg.MetadataValue.md("\n".join(
            [coverage.summary, *(f"- {line}" for line in coverage.lines()[1:])])),
        "coverage_complete": coverage.complete,
        "excluded_snapshots": dg.MetadataValue.json(
            [i.snapshot_id for i in coverage.items if i.kind == "excluded_snapshot"]),
    }
