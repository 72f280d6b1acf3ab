-- Table pool_metrics: measured utilization of each pool, from ShowPoolMonitor (GET
-- /v2/{project_id}/pools/{pool_name}/monitor, period=3600, two calls per pool read: statistics=average and
-- statistics=maximum; collect.pool_monitor). One row per snapshot x pool x metric x statistic x point: cpuUsage,
-- memUsedRate, and gpuUtil, gpuMemUsage or npuUtil, npuMemUsage as the service names them. A snapshot asks from
-- the pool's latest stored point on (the first one up to collect.monitor_backfill_days back), so consecutive
-- snapshots overlap by a point: the catalog's pool_metrics view keeps one row per pool, metric, statistic and
-- point, the latest snapshot's (pipeline/catalog/views.py DEDUPLICATED); the Parquet of each snapshot keeps
-- what that snapshot read. The service's -1 ("no data") is never a value: value NULL, no_data true.
-- Read tolerantly: `metric` as one object (the SDK, the example) or as an array of them (one table of the docs:
-- its first object is read); values and timestamps as JSON numbers or numeric strings. A body that is not JSON
-- or has no `metrics` array is skipped (its bytes stay in the raw landing, its call in fetches), as is a series
-- without a metricName or a dataPoints array, and a point whose timestamp or value is not a number.
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
WITH bodies AS (
    SELECT region, project_id, pool_id, page, content,
           coalesce(TRY_CAST(regexp_extract(coalesce(query, ''), '(^|&)period=([0-9]{1,6})(&|$)', 2) AS INTEGER),
                    60) AS period_s,
           NULLIF(regexp_extract(coalesce(query, ''), '(^|&)statistics=([A-Za-z]+)(&|$)', 2), '') AS asked
    FROM monitor_pages
    WHERE json_valid(content) AND json_type(content, '$.metrics') = 'ARRAY' AND pool_id IS NOT NULL
),
series AS (
    SELECT region, project_id, pool_id, page, period_s, asked,
           unnest(from_json(json_extract(content, '$.metrics'), '["JSON"]')) AS m
    FROM bodies
),
described AS (
    SELECT region, project_id, pool_id, page, period_s, asked,
           CASE json_type(m, '$.metric')
               WHEN 'OBJECT' THEN json_extract(m, '$.metric')
               WHEN 'ARRAY' THEN json_extract(m, '$.metric[0]')
           END AS d,
           json_extract(m, '$.dataPoints') AS pts
    FROM series
    WHERE json_type(m) = 'OBJECT' AND json_type(m, '$.dataPoints') = 'ARRAY'
),
named AS (
    SELECT region, project_id, pool_id, page, period_s, asked, pts,
           d ->> '$.metricName' AS metric,
           d ->> '$.namespace' AS namespace,
           list_filter(from_json(CASE WHEN json_type(d, '$.dimensions') = 'ARRAY' THEN json_extract(d, '$.dimensions')
                                      ELSE '[]' END, '[{"name": "VARCHAR", "value": "VARCHAR"}]'),
                       lambda x: x.name = 'clusterId')[1].value AS cluster_id
    FROM described
    WHERE json_type(d) = 'OBJECT' AND coalesce(d ->> '$.metricName', '') <> ''
),
points AS (
    SELECT region, project_id, pool_id, page, period_s, asked, metric, namespace, cluster_id,
           unnest(from_json(pts, '[{"timestamp": "VARCHAR", "unit": "VARCHAR", '
                                    || '"statistics": [{"statistic": "VARCHAR", "value": "VARCHAR"}]}]')) AS p
    FROM named
),
stats AS (
    SELECT region, project_id, pool_id, page, period_s, metric, namespace, cluster_id,
           p.timestamp AS ts, p.unit AS unit, coalesce(s.statistic, asked) AS statistic, s.value AS raw
    FROM (SELECT *, unnest(p.statistics) AS s FROM points WHERE p IS NOT NULL)
),
readable AS (
    SELECT *,
           CASE WHEN regexp_full_match(ts, '\s*[0-9]{1,16}(\.0*)?\s*') THEN TRY_CAST(TRY_CAST(ts AS DOUBLE) AS BIGINT)
           END AS ms,
           CASE WHEN regexp_full_match(raw, '\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*')
                THEN TRY_CAST(raw AS DOUBLE) END AS number
    FROM stats
)
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
FROM readable
WHERE ms IS NOT NULL AND number IS NOT NULL AND isfinite(number) AND coalesce(statistic, '') <> ''
-- one row per point of a snapshot, should an answer repeat one: the later answer's
QUALIFY row_number() OVER (PARTITION BY region, project_id, pool_id, metric, statistic, ms ORDER BY page DESC) = 1
ORDER BY region, project_id, pool_id, metric, statistic, measured_at
