-- Non-table step: what nodes.sql and node_resources.sql skip in the ListPoolNodes pages (node_pages), for the
-- rejected_documents path: one row per page or item not read, (region, project_id, pool_id, call, page, reason).
-- Reasons: body is not valid JSON | body has no items array | item is not an object | item has no metadata.name
-- (no non-empty string). A node listed again for the same pool is not a rejection (kept once).
-- Reads what _prepare_node_pages.sql parsed (node_lists, node_all_items).
SELECT region, project_id, pool_id, call, page, 'body is not valid JSON' AS reason FROM node_lists WHERE NOT valid
UNION ALL
SELECT region, project_id, pool_id, call, page, 'body has no items array' FROM node_lists
WHERE valid AND items IS NULL
UNION ALL
SELECT region, project_id, pool_id, call, page,
       CASE WHEN json_type(node) IS DISTINCT FROM 'OBJECT' THEN 'item is not an object' ELSE 'item has no metadata.name' END
FROM node_all_items
WHERE json_type(node) IS DISTINCT FROM 'OBJECT' OR json_type(node, '$.metadata.name') IS DISTINCT FROM 'VARCHAR'
   OR coalesce(node ->> '$.metadata.name', '') = ''
ORDER BY region, project_id, pool_id, page, reason
