-- Non-table step: what pool_allocation.sql and pool_workload_counts.sql skip in the ShowPoolRuntimeMetrics
-- answers (runtime_pages), for rejected_documents (pipeline/normalize/step.py): one row per answer or item not read.
--   region, project_id, pool_id (NULL: the call is per project), call, page   the answer (as runtime_pages)
--   item_index  INTEGER  0-based index in `items`; NULL for the whole answer
--   reason      VARCHAR  body is not valid JSON | body has no items array | item is not an object |
--                        item has no metadata.name | item has no table object
--   item        VARCHAR  the item's JSON, NULL for the whole answer
WITH items AS (
    SELECT region, project_id, pool_id, call, page, unnest(range(len(l))) AS item_index, unnest(l) AS item
    FROM (SELECT *, from_json(json_extract(content, '$.items'), '["JSON"]') AS l
          FROM runtime_pages
          WHERE json_valid(content) AND json_type(content, '$.items') = 'ARRAY')
)
SELECT region, project_id, pool_id, call, page, NULL::INTEGER AS item_index,
       CASE WHEN NOT json_valid(content) THEN 'body is not valid JSON' ELSE 'body has no items array' END AS reason,
       NULL::VARCHAR AS item
FROM runtime_pages
WHERE NOT json_valid(content) OR json_type(content, '$.items') IS DISTINCT FROM 'ARRAY'
UNION ALL
SELECT region, project_id, pool_id, call, page, item_index::INTEGER,
       CASE WHEN json_type(item) IS DISTINCT FROM 'OBJECT' THEN 'item is not an object'
            WHEN coalesce(item ->> '$.metadata.name', '') = '' THEN 'item has no metadata.name'
            ELSE 'item has no table object' END,
       item::VARCHAR
FROM items
WHERE json_type(item) IS DISTINCT FROM 'OBJECT' OR coalesce(item ->> '$.metadata.name', '') = ''
   OR json_type(item, '$.table') IS DISTINCT FROM 'OBJECT'
