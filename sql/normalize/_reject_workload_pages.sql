-- Non-table step: what workload_statistics.sql skips in the ShowWorkloadStatistics answers (workload_pages), for
-- the rejected_documents path: one row per answer, item or count not read, (region, project_id, pool_id, call,
-- page, reason). Reasons: not_json, no_root (neither a `statistics` nor a `statics` object), no_items (the root
-- has no `items` array), item_unreadable (an item that is not an object, has no non-empty string type, or no
-- status map), repeated_type (a type listed again: its first item is kept), count_unreadable (a status whose
-- count is not a whole number >= 0). Needs _macros.sql and _node_macros.sql.
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
SELECT region, project_id, pool_id, call, page, 'not_json' AS reason FROM pages WHERE NOT json_valid(content)
UNION ALL
SELECT region, project_id, pool_id, call, page, 'no_root' FROM pages
WHERE json_valid(content) AND json_type(content, '$.statistics') IS DISTINCT FROM 'OBJECT'
  AND json_type(content, '$.statics') IS DISTINCT FROM 'OBJECT'
UNION ALL
SELECT region, project_id, pool_id, call, page, 'no_items' FROM answers
WHERE json_type(s, '$.items') IS DISTINCT FROM 'ARRAY'
UNION ALL
SELECT region, project_id, pool_id, call, page, 'item_unreadable' FROM items
WHERE NOT coalesce(json_type(item) = 'OBJECT' AND json_type(item, '$.type') = 'VARCHAR'
                   AND coalesce(item ->> '$.type', '') <> '' AND json_type(item, '$.status') = 'OBJECT', false)
UNION ALL
SELECT region, project_id, pool_id, call, page, 'repeated_type' FROM readable WHERE n > 1
UNION ALL
SELECT r.region, r.project_id, r.pool_id, r.call, r.page, 'count_unreadable'
FROM readable AS r, json_each(json_extract(r.item, '$.status')) AS e
WHERE r.n = 1 AND json_count(e.value) IS NULL
ORDER BY region, project_id, pool_id, page, reason
