-- Table pool_metrics: measured utilization of each pool, hourly, from ShowPoolMonitor (GET
-- /v2/{project_id}/pools/{pool_name}/monitor, period=3600; collect.pool_monitor). One row per snapshot x pool x
-- metric x statistic x point. A point the service marks -1 (no data) has value NULL and no_data true: never a
-- value. Consecutive snapshots ask overlapping windows, so the same point can be in several snapshots: the
-- catalog's pool_metrics keeps one row per (region, project_id, pool_id, metric, statistic, measured_at), the latest.
--
-- column       type         meaning (source path in the monitor answer)
-- snapshot_id  VARCHAR      snapshot, sortable UTC text like 20261128T060000Z (run)
-- snapshot_at  TIMESTAMPTZ  snapshot time, UTC (run)
-- region       VARCHAR      region of the project (run)
-- project_id   VARCHAR      IAM project id (run)
-- pool_id      VARCHAR      pool id (the call's pool: the answer does not name it)
-- metric       VARCHAR      gpuUtil | npuUtil | cpuUsage | memUsedRate | gpuMemUsage | npuMemUsage | ...
--                           (metrics[].metric.metricName)
-- statistic    VARCHAR      average | maximum | ... (dataPoints[].statistics[].statistic)
-- measured_at  TIMESTAMPTZ  start of the point's period (dataPoints[].timestamp, epoch milliseconds)
-- value        DOUBLE       the measurement (percent for *Util, *Usage, *Rate); NULL when no_data
-- no_data      BOOLEAN      the service sent -1: no data for that period
-- unit         VARCHAR      Percent | Megabytes (dataPoints[].unit)
-- namespace    VARCHAR      e.g. PAAS.AGGR (metrics[].metric.namespace)
-- cluster_id   VARCHAR      the pool's CCE cluster (metrics[].metric.dimensions[name=clusterId].value)
-- period_s     INTEGER      the points' period in seconds (3600)
WITH series AS (
    SELECT region, project_id, pool_id,
           unnest(from_json(json_extract(content, '$.metrics'), '["JSON"]')) AS m
    FROM monitor_pages
    WHERE json_valid(content) AND json_type(content, '$.metrics') = 'ARRAY'
),
named AS (
    -- one table of the docs types `metric` as an array of one object: read both
    SELECT region, project_id, pool_id, m,
           CASE WHEN json_type(m, '$.metric') = 'ARRAY' THEN json_extract(m, '$.metric[0]')
                ELSE json_extract(m, '$.metric') END AS meta
    FROM series
    WHERE json_type(m) = 'OBJECT' AND json_type(m, '$.dataPoints') = 'ARRAY'
),
points AS (
    SELECT region, project_id, pool_id, meta,
           unnest(from_json(json_extract(m, '$.dataPoints'), '["JSON"]')) AS p
    FROM named
),
stats AS (
    SELECT region, project_id, pool_id, meta, p,
           unnest(from_json(json_extract(p, '$.statistics'), '["JSON"]')) AS s
    FROM points
    WHERE json_type(p) = 'OBJECT' AND json_type(p, '$.statistics') = 'ARRAY'
)
SELECT
    $snapshot_id::VARCHAR AS snapshot_id,
    $snapshot_at::TIMESTAMPTZ AS snapshot_at,
    region,
    project_id,
    pool_id,
    meta ->> '$.metricName' AS metric,
    s ->> '$.statistic' AS statistic,
    make_timestamptz(TRY_CAST(p ->> '$.timestamp' AS BIGINT) * 1000) AS measured_at,
    CASE WHEN TRY_CAST(s ->> '$.value' AS DOUBLE) = -1 THEN NULL ELSE TRY_CAST(s ->> '$.value' AS DOUBLE) END
        AS value,
    coalesce(TRY_CAST(s ->> '$.value' AS DOUBLE) = -1, false) AS no_data,
    p ->> '$.unit' AS unit,
    meta ->> '$.namespace' AS namespace,
    (SELECT d ->> '$.value' FROM (SELECT unnest(from_json(json_extract(meta, '$.dimensions'), '["JSON"]')) AS d)
     WHERE d ->> '$.name' = 'clusterId' LIMIT 1) AS cluster_id,
    3600 AS period_s
FROM stats
WHERE json_type(s) = 'OBJECT' AND coalesce(meta ->> '$.metricName', '') <> ''
  AND TRY_CAST(p ->> '$.timestamp' AS BIGINT) IS NOT NULL
