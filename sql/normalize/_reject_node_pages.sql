-- Non-table step: what nodes.sql and node_resources.sql skip in the ListPoolNodes pages (node_pages), for the
-- rejected_documents path: one row per page or item not read, (region, project_id, pool_id, call, page, reason).
-- Reasons: body is not valid JSON | body has no items array | item is not an object | item has no metadata.name
-- (no non-empty string). A node listed again for the same pool is not a rejection (kept once).
-- Needs _macros.sql and _node_macros.sql.
WITH pages AS (
    SELECT region, project_id, pool_id, call, page, content FROM node_pages WHERE pool_id IS NOT NULL
),
items AS (
    SELECT region, project_id, pool_id, call, page,
           unnest(from_json(json_extract(content, '$.items'), '["JSON"]')) AS node
    FROM pages
    WHERE json_valid(content) AND json_type(content, '$.items') = 'ARRAY'
)
SELECT region, project_id, pool_id, call, page, 'body is not valid JSON' AS reason FROM pages WHERE NOT json_valid(content)
UNION ALL
SELECT region, project_id, pool_id, call, page, 'body has no items array' FROM pages
WHERE json_valid(content) AND json_type(content, '$.items') IS DISTINCT FROM 'ARRAY'
UNION ALL
SELECT region, project_id, pool_id, call, page,
       CASE WHEN json_type(node) IS DISTINCT FROM 'OBJECT' THEN 'item is not an object' ELSE 'item has no metadata.name' END
FROM items
WHERE json_type(node) IS DISTINCT FROM 'OBJECT' OR json_type(node, '$.metadata.name') IS DISTINCT FROM 'VARCHAR'
   OR coalesce(node ->> '$.metadata.name', '') = ''
ORDER BY region, project_id, pool_id, page, reason
