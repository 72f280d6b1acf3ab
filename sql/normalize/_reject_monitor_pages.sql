-- Non-table step: what pool_metrics.sql skipped of the landed ShowPoolMonitor answers (monitor_pages), one row per
-- body, series, point or statistic it could not read, for the rejected_documents path (its bytes stay in the raw
-- landing). Mirrors pool_metrics.sql's rules exactly: a body that is not JSON or has no `metrics` array; a
-- series that is not an object, whose `metric` (object, or array whose first element is read) names no
-- metricName, or that has no `dataPoints` array; a point that is not an object, whose timestamp is not a whole
-- number of epoch ms, or whose `statistics` is not an array; a statistic whose value is not a finite number or
-- that names no statistic when the request named none either.
--   region, project_id, pool_id, call  VARCHAR  the call (pool_id: the pool it asked about)
--   page    BIGINT   the body (monitor_pages.page)
--   reason  VARCHAR  what could not be read, with the item's place, e.g. metrics[1].dataPoints[3]: value is
--                    not a number
WITH bodies AS (
    SELECT region, project_id, pool_id, call, page, content,
           NULLIF(regexp_extract(coalesce(query, ''), '(^|&)statistics=([A-Za-z]+)(&|$)', 2), '') AS asked
    FROM monitor_pages
),
bad_bodies AS (
    SELECT region, project_id, pool_id, call, page,
           CASE WHEN NOT json_valid(content) THEN 'body is not JSON'
                ELSE 'no metrics array in the body' END AS reason
    FROM bodies
    WHERE NOT json_valid(content) OR coalesce(json_type(content, '$.metrics'), '') <> 'ARRAY'
),
series AS (
    SELECT region, project_id, pool_id, call, page, asked, unnest(l) AS m, unnest(range(len(l))) AS i
    FROM (SELECT *, from_json(json_extract(content, '$.metrics'), '["JSON"]') AS l
          FROM bodies WHERE json_valid(content) AND json_type(content, '$.metrics') = 'ARRAY')
),
described AS (
    SELECT *,
           CASE json_type(m, '$.metric')
               WHEN 'OBJECT' THEN json_extract(m, '$.metric')
               WHEN 'ARRAY' THEN json_extract(m, '$.metric[0]')
           END AS d
    FROM series
),
bad_series AS (
    SELECT region, project_id, pool_id, call, page,
           'metrics[' || i || ']: ' || CASE
               WHEN coalesce(json_type(m), '') <> 'OBJECT' THEN 'not an object'
               WHEN coalesce(json_type(d), '') <> 'OBJECT' OR coalesce(d ->> '$.metricName', '') = ''
                   THEN 'no metricName'
               ELSE 'no dataPoints array' END AS reason
    FROM described
    WHERE coalesce(json_type(m), '') <> 'OBJECT' OR coalesce(json_type(d), '') <> 'OBJECT'
       OR coalesce(d ->> '$.metricName', '') = '' OR coalesce(json_type(m, '$.dataPoints'), '') <> 'ARRAY'
),
points AS (
    SELECT region, project_id, pool_id, call, page, asked, i, unnest(l) AS p, unnest(range(len(l))) AS j
    FROM (SELECT *, from_json(json_extract(m, '$.dataPoints'), '["JSON"]') AS l
          FROM described
          WHERE json_type(d) = 'OBJECT' AND coalesce(d ->> '$.metricName', '') <> ''
            AND json_type(m, '$.dataPoints') = 'ARRAY')
),
bad_points AS (
    SELECT region, project_id, pool_id, call, page,
           'metrics[' || i || '].dataPoints[' || j || ']: ' || CASE
               WHEN coalesce(json_type(p), '') <> 'OBJECT' THEN 'not an object'
               WHEN NOT coalesce(regexp_full_match(p ->> '$.timestamp', '\s*[0-9]{1,16}(\.0*)?\s*'), false)
                   THEN 'timestamp is not epoch milliseconds'
               ELSE 'no statistics array' END AS reason
    FROM points
    WHERE coalesce(json_type(p), '') <> 'OBJECT'
       OR NOT coalesce(regexp_full_match(p ->> '$.timestamp', '\s*[0-9]{1,16}(\.0*)?\s*'), false)
       OR coalesce(json_type(p, '$.statistics'), '') <> 'ARRAY'
),
stats AS (
    SELECT region, project_id, pool_id, call, page, asked, i, j, unnest(l) AS s, unnest(range(len(l))) AS k
    FROM (SELECT *, from_json(json_extract(p, '$.statistics'), '["JSON"]') AS l
          FROM points
          WHERE json_type(p) = 'OBJECT' AND json_type(p, '$.statistics') = 'ARRAY'
            AND regexp_full_match(p ->> '$.timestamp', '\s*[0-9]{1,16}(\.0*)?\s*'))
),
readable AS (
    SELECT *,
           CASE WHEN json_type(s) = 'OBJECT'
                     AND regexp_full_match(s ->> '$.value', '\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*')
                THEN isfinite(TRY_CAST(s ->> '$.value' AS DOUBLE)) END AS finite
    FROM stats
),
bad_stats AS (
    SELECT region, project_id, pool_id, call, page,
           'metrics[' || i || '].dataPoints[' || j || '].statistics[' || k || ']: ' || CASE
               WHEN coalesce(json_type(s), '') <> 'OBJECT' THEN 'not an object'
               WHEN NOT coalesce(finite, false) THEN 'value is not a number'
               ELSE 'no statistic named' END AS reason
    FROM readable
    WHERE NOT coalesce(finite, false)
       OR coalesce(CASE WHEN json_type(s) = 'OBJECT' THEN s ->> '$.statistic' END, asked, '') = ''
)
SELECT * FROM bad_bodies
UNION ALL SELECT * FROM bad_series
UNION ALL SELECT * FROM bad_points
UNION ALL SELECT * FROM bad_stats
ORDER BY region, project_id, pool_id, page, reason
