-- Table pool_metrics: measured utilization of each pool, from ShowPoolMonitor (GET
-- /v2/{project_id}/pools/{pool_name}/monitor, period=3600, two calls per pool read: statistics=average and
-- statistics=maximum; collect.pool_monitor). One row per snapshot x pool x metric x statistic x point: cpuUsage,
-- memUsedRate, and gpuUtil, gpuMemUsage or npuUtil, npuMemUsage as the service names them. A snapshot asks from
-- the pool's latest stored point on (the first one up to collect.monitor_backfill_days back), so consecutive
-- snapshots overlap by a point: the catalog's pool_metrics view keeps one row per pool, metric, statistic and
-- point, the latest snapshot's (pipeline/catalog/views.py DEDUPLICATED); the Parquet of each snapshot keeps
-- what that snapshot read. The service's -1 ("no data") is never a value: value NULL, no_data true.
-- Read tolerantly (sql/normalize/_prepare_monitor_pages.sql parses the answers: `metric` as one object or an
-- array of them, values and timestamps as JSON numbers or numeric strings). A body that is not JSON or has no
-- `metrics` array is skipped (its bytes stay in the raw landing, its call in fetches, the reason in
-- rejected_documents), as is a series without a metricName or a dataPoints array, and a point whose timestamp
-- or value is not a number.
--
-- column       type         meaning (source path in the answer)
-- snapshot_id  VARCHAR      snapshot, sortable UTC text like 20261128T060000Z (run)
-- snapshot_at  TIMESTAMPTZ  snapshot time, UTC (run)
-- region       VARCHAR      region of the project (run)
-- project_id   VARCHAR      IAM project id (run)
-- pool_id      VARCHAR      pool id the call asked about (the request path's pool_name = metadata.name; the
--                           answer does not name the pool)
-- metric       VARCHAR      metric as named: cpuUsage | memUsedRate | gpuUtil | gpuMemUsage | npuUtil |
--                           npuMemUsage | ... (metrics[].metric.metricName)
-- statistic    VARCHAR      average | maximum | minimum | sum | sampleCount, the aggregation of the period
--                           (dataPoints[].statistics[].statistic; the request's `statistics` when absent)
-- measured_at  TIMESTAMPTZ  start of the period the point aggregates (dataPoints[].timestamp, epoch ms)
-- value        DOUBLE       the statistic's value in unit, e.g. percent; NULL when the service said -1 (no
--                           data) (dataPoints[].statistics[].value)
-- no_data      BOOLEAN      true when the service answered -1 (no data) for the point, else false
-- unit         VARCHAR      unit of the point: Percent | Megabytes | ... (dataPoints[].unit)
-- namespace    VARCHAR      metric namespace, e.g. PAAS.AGGR (metrics[].metric.namespace)
-- cluster_id   VARCHAR      the CCE cluster behind the pool: the dimension named clusterId
--                           (metrics[].metric.dimensions[].value)
-- period_s     INTEGER      length of the period a point aggregates, in seconds: the request's `period` (60
--                           when the request named none, the service's default)
SELECT
    $snapshot_id::VARCHAR AS snapshot_id,
    $snapshot_at::TIMESTAMPTZ AS snapshot_at,
    region,
    project_id,
    pool_id,
    metric,
    statistic,
    to_timestamp(ms / 1000) AS measured_at,
    CASE WHEN number <> -1 THEN number END AS value,
    number = -1 AS no_data,
    unit,
    namespace,
    cluster_id,
    period_s
FROM monitor_stats
WHERE pool_id IS NOT NULL AND number IS NOT NULL AND coalesce(statistic, '') <> ''
-- one row per point of a snapshot, should an answer repeat one: the later answer's
QUALIFY row_number() OVER (PARTITION BY region, project_id, pool_id, metric, statistic, ms ORDER BY page DESC) = 1
ORDER BY region, project_id, pool_id, metric, statistic, measured_at
