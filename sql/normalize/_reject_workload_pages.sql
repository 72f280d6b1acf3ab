-- Non-table step: what workload_statistics.sql skips in the ShowWorkloadStatistics answers (workload_pages), for
-- the rejected_documents path: one row per answer, item or count not read, (region, project_id, pool_id, call,
-- page, reason, severity). Reasons (errors: not read): body is not valid JSON | body has no statistics or statics
-- object | body has no items array (under the root) | item has no type or status map (not an object, no
-- non-empty string type, or no status map); warnings (the rest of the answer was read): workload type repeated
-- (the first is kept) | count is not a whole number >= 0 (that status only). Needs _macros.sql, _node_macros.sql.
WITH pages AS (
    SELECT region, project_id, pool_id, call, page, content FROM workload_pages WHERE pool_id IS NOT NULL
),
answers AS (
    SELECT region, project_id, pool_id, call, page,
           json_extract(content, CASE WHEN json_type(content, '$.statistics') = 'OBJECT'
                                      THEN '$.statistics' ELSE '$.statics' END) AS s
    FROM pages
    WHERE json_valid(content)
      AND (json_type(content, '$.statistics') = 'OBJECT' OR json_type(content, '$.statics') = 'OBJECT')
),
items AS (
    SELECT region, project_id, pool_id, call, page,
           unnest(from_json(json_extract(s, '$.items'), '["JSON"]')) AS item,
           generate_subscripts(from_json(json_extract(s, '$.items'), '["JSON"]'), 1) AS idx
    FROM answers
    WHERE json_type(s, '$.items') = 'ARRAY'
),
readable AS (
    SELECT *, row_number() OVER (PARTITION BY region, project_id, pool_id, item ->> '$.type' ORDER BY page, idx) AS n
    FROM items
    WHERE json_type(item) = 'OBJECT' AND json_type(item, '$.type') = 'VARCHAR'
      AND coalesce(item ->> '$.type', '') <> '' AND json_type(item, '$.status') = 'OBJECT'
)
SELECT region, project_id, pool_id, call, page, 'body is not valid JSON' AS reason, 'error' AS severity FROM pages WHERE NOT json_valid(content)
UNION ALL
SELECT region, project_id, pool_id, call, page, 'body has no statistics or statics object', 'error' FROM pages
WHERE json_valid(content) AND json_type(content, '$.statistics') IS DISTINCT FROM 'OBJECT'
  AND json_type(content, '$.statics') IS DISTINCT FROM 'OBJECT'
UNION ALL
SELECT region, project_id, pool_id, call, page, 'body has no items array', 'error' FROM answers
WHERE json_type(s, '$.items') IS DISTINCT FROM 'ARRAY'
UNION ALL
SELECT region, project_id, pool_id, call, page, 'item has no type or status map', 'error' FROM items
WHERE NOT coalesce(json_type(item) = 'OBJECT' AND json_type(item, '$.type') = 'VARCHAR'
                   AND coalesce(item ->> '$.type', '') <> '' AND json_type(item, '$.status') = 'OBJECT', false)
UNION ALL
SELECT region, project_id, pool_id, call, page, 'workload type repeated (the first is kept)', 'warning' FROM readable WHERE n > 1
UNION ALL
SELECT r.region, r.project_id, r.pool_id, r.call, r.page, 'count is not a whole number >= 0', 'warning'
FROM readable AS r, json_each(json_extract(r.item, '$.status')) AS e
WHERE r.n = 1 AND json_count(e.value) IS NULL
ORDER BY region, project_id, pool_id, page, reason
