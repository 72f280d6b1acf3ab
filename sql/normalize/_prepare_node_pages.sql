-- Non-table step, run once before nodes.sql, node_resources.sql and _reject_node_pages.sql over the ListPoolNodes
-- pages (node_pages), so that each page is split into its nodes once (pipeline/normalize/step.py runs
-- sql/normalize/_prepare_<pages>.sql when there is one): TEMP TABLE node_items, one row per node the tables read:
-- an object with a non-empty string metadata.name, the first listing of a name per pool (a node listed again,
-- on another page, is kept once).
--   region, project_id, pool_id  VARCHAR  the page's (pool_id: the pool the call asked about)
--   node_name                    VARCHAR  metadata.name
--   node                         JSON     the node object
CREATE OR REPLACE TEMP TABLE node_items AS
WITH items AS (
    SELECT region, project_id, pool_id, page, unnest(l) AS node, generate_subscripts(l, 1) AS idx
    FROM (SELECT *, from_json(json_extract(content, '$.items'), '["JSON"]') AS l
          FROM node_pages
          WHERE pool_id IS NOT NULL AND json_valid(content) AND json_type(content, '$.items') = 'ARRAY')
)
SELECT region, project_id, pool_id, node ->> '$.metadata.name' AS node_name, node
FROM items
WHERE json_type(node) = 'OBJECT' AND json_type(node, '$.metadata.name') = 'VARCHAR'
  AND coalesce(node ->> '$.metadata.name', '') <> ''
QUALIFY row_number() OVER (PARTITION BY region, project_id, pool_id, node ->> '$.metadata.name'
                           ORDER BY page, idx) = 1
