-- Non-table step, run once before pool_metrics.sql and _reject_monitor_pages.sql over the ShowPoolMonitor answers
-- (monitor_pages), so that each answer is parsed and split once for both (pipeline/normalize/step.py runs
-- sql/normalize/_prepare_<pages>.sql when there is one; the rejections used to parse every answer again, at
-- more than the table's own cost). Read tolerantly: `metric` as one object (the SDK, the example) or as an array
-- of them (one table of the docs: its first object is read); timestamps and values as JSON numbers or numeric
-- strings. Each level keeps what it could not read, with a flag, for the rejections:
-- TEMP TABLE monitor_bodies: one row per answer: valid (JSON), metrics (its `metrics` array; NULL when absent or
--   not an array), period_s (the request's `period`, 60 when none: the service's default), asked (the
--   request's `statistics`);
-- TEMP TABLE monitor_series: one row per element i of metrics (0-based): ok (an object with a metric that names a
--   metricName, and a dataPoints array), metric, namespace, cluster_id (the dimension named clusterId), pts;
-- TEMP TABLE monitor_points: one row per point j of a readable series: is_object, ms (the timestamp as epoch
--   ms, NULL when not a whole number), stats (its `statistics` array, NULL when not an array), unit;
-- TEMP TABLE monitor_stats: one row per statistic k of a point with a timestamp: is_object, statistic (its own,
--   else the request's), number (the value, NULL when not a finite number).
CREATE OR REPLACE TEMP TABLE monitor_bodies AS
SELECT region, project_id, pool_id, call, page, valid,
       CASE WHEN valid THEN from_json(content, '{"metrics": ["JSON"]}').metrics END AS metrics,
       coalesce(TRY_CAST(regexp_extract(coalesce(query, ''), '(^|&)period=([0-9]{1,6})(&|$)', 2) AS INTEGER),
                60) AS period_s,
       NULLIF(regexp_extract(coalesce(query, ''), '(^|&)statistics=([A-Za-z]+)(&|$)', 2), '') AS asked
FROM (SELECT *, json_valid(content) AS valid FROM monitor_pages);

CREATE OR REPLACE TEMP TABLE monitor_series AS
WITH series AS (
    SELECT region, project_id, pool_id, call, page, period_s, asked,
           unnest(metrics) AS m, generate_subscripts(metrics, 1) - 1 AS i
    FROM monitor_bodies
    WHERE metrics IS NOT NULL
),
parts AS (
    SELECT *,
           from_json(m, '{"metric": "JSON", "dataPoints": "JSON"}') AS x,
           json_type(m) = 'OBJECT' AS is_object
    FROM series
),
described AS (
    SELECT *,
           CASE WHEN is_object THEN
               CASE json_type(x.metric) WHEN 'OBJECT' THEN x.metric WHEN 'ARRAY' THEN json_extract(x.metric, '$[0]') END
           END AS d
    FROM parts
)
SELECT region, project_id, pool_id, call, page, period_s, asked, i,
       is_object,
       coalesce(json_type(d) = 'OBJECT' AND coalesce(d ->> '$.metricName', '') <> '', false) AS named,
       CASE WHEN is_object AND json_type(x.dataPoints) = 'ARRAY' THEN x.dataPoints END AS pts,
       d ->> '$.metricName' AS metric,
       d ->> '$.namespace' AS namespace,
       CASE WHEN json_type(d, '$.dimensions') = 'ARRAY' THEN
           list_filter(from_json(json_extract(d, '$.dimensions'), '[{"name": "VARCHAR", "value": "VARCHAR"}]'),
                       lambda dim: dim.name = 'clusterId')[1].value
       END AS cluster_id
FROM described;

CREATE OR REPLACE TEMP TABLE monitor_points AS
WITH points AS (
    SELECT region, project_id, pool_id, call, page, period_s, asked, i, metric, namespace, cluster_id,
           unnest(l) AS p, generate_subscripts(l, 1) - 1 AS j
    FROM (SELECT *, from_json(pts, '["JSON"]') AS l FROM monitor_series WHERE is_object AND named AND pts IS NOT NULL)
),
parts AS (
    SELECT *, json_type(p) = 'OBJECT' AS is_object,
           from_json(p, '{"timestamp": "VARCHAR", "unit": "VARCHAR", "statistics": "JSON"}') AS x
    FROM points
)
SELECT region, project_id, pool_id, call, page, period_s, asked, i, j, metric, namespace, cluster_id, is_object,
       CASE WHEN is_object AND regexp_full_match(x.timestamp, '\s*[0-9]{1,16}(\.0*)?\s*')
            THEN TRY_CAST(TRY_CAST(x.timestamp AS DOUBLE) AS BIGINT) END AS ms,
       CASE WHEN is_object AND json_type(x.statistics) = 'ARRAY' THEN from_json(x.statistics, '["JSON"]') END AS stats,
       CASE WHEN is_object THEN x.unit END AS unit
FROM parts;

CREATE OR REPLACE TEMP TABLE monitor_stats AS
WITH stats AS (
    SELECT region, project_id, pool_id, call, page, period_s, asked, i, j, metric, namespace, cluster_id, ms, unit,
           unnest(stats) AS s, generate_subscripts(stats, 1) - 1 AS k
    FROM monitor_points
    WHERE ms IS NOT NULL AND stats IS NOT NULL
),
parts AS (
    SELECT *, json_type(s) = 'OBJECT' AS is_object,
           from_json(s, '{"statistic": "VARCHAR", "value": "VARCHAR"}') AS x
    FROM stats
)
SELECT region, project_id, pool_id, call, page, period_s, i, j, k, metric, namespace, cluster_id, ms, unit, is_object,
       coalesce(CASE WHEN is_object THEN x.statistic END, asked) AS statistic,
       CASE WHEN is_object AND regexp_full_match(x.value, '\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*')
                 AND isfinite(TRY_CAST(x.value AS DOUBLE))
            THEN TRY_CAST(x.value AS DOUBLE) END AS number
FROM parts
