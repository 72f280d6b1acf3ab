-- Non-table step: what pool_metrics.sql skips in the ShowPoolMonitor answers (monitor_pages), for
-- rejected_documents (pipeline/normalize/step.py): one row per answer or series not read.
--   region, project_id, pool_id, call, page   the answer (as monitor_pages)
--   item_index  INTEGER  0-based index in `metrics`; NULL for the whole answer
--   reason      VARCHAR  body is not valid JSON | body has no metrics array | series is not an object |
--                        series has no metricName | series has no dataPoints array
--   item        VARCHAR  the series' JSON, NULL for the whole answer
WITH series AS (
    SELECT region, project_id, pool_id, call, page, unnest(range(len(l))) AS item_index, unnest(l) AS m
    FROM (SELECT *, from_json(json_extract(content, '$.metrics'), '["JSON"]') AS l
          FROM monitor_pages
          WHERE json_valid(content) AND json_type(content, '$.metrics') = 'ARRAY')
),
named AS (
    SELECT *, CASE WHEN json_type(m, '$.metric') = 'ARRAY' THEN json_extract(m, '$.metric[0]')
                   ELSE json_extract(m, '$.metric') END AS meta
    FROM series
)
SELECT region, project_id, pool_id, call, page, NULL::INTEGER AS item_index,
       CASE WHEN NOT json_valid(content) THEN 'body is not valid JSON' ELSE 'body has no metrics array' END AS reason,
       NULL::VARCHAR AS item
FROM monitor_pages
WHERE NOT json_valid(content) OR json_type(content, '$.metrics') IS DISTINCT FROM 'ARRAY'
UNION ALL
SELECT region, project_id, pool_id, call, page, item_index::INTEGER,
       CASE WHEN json_type(m) IS DISTINCT FROM 'OBJECT' THEN 'series is not an object'
            WHEN coalesce(meta ->> '$.metricName', '') = '' THEN 'series has no metricName'
            ELSE 'series has no dataPoints array' END,
       m::VARCHAR
FROM named
WHERE json_type(m) IS DISTINCT FROM 'OBJECT' OR coalesce(meta ->> '$.metricName', '') = ''
   OR json_type(m, '$.dataPoints') IS DISTINCT FROM 'ARRAY'
