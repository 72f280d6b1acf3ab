-- Non-table step, run once before nodes.sql, node_resources.sql and _reject_node_pages.sql over the ListPoolNodes
-- pages (node_pages), so that each page is parsed and split into its nodes once (pipeline/normalize/step.py runs
-- sql/normalize/_prepare_<pages>.sql when there is one; each parse of a whole page costs as much as a table):
-- TEMP TABLE node_lists, one row per page of a pool: valid (the body is JSON), items (its items array, NULL
-- when the body is not JSON, not an object, or its items are absent or not an array);
-- TEMP TABLE node_all_items, every element of those arrays with its position (for the rejections);
-- TEMP TABLE node_items, one row per node the tables read: an object with a non-empty string metadata.name,
-- the first listing of a name per pool (a node listed again, on another page, is kept once).
--   region, project_id, pool_id  VARCHAR  the page's (pool_id: the pool the call asked about)
--   node_name                    VARCHAR  metadata.name
--   node                         JSON     the node object
CREATE OR REPLACE TEMP TABLE node_lists AS
SELECT region, project_id, pool_id, call, page, valid,
       CASE WHEN valid THEN from_json(content, '{"items": ["JSON"]}').items END AS items
FROM (SELECT *, json_valid(content) AS valid FROM node_pages WHERE pool_id IS NOT NULL);

CREATE OR REPLACE TEMP TABLE node_all_items AS
SELECT region, project_id, pool_id, call, page, unnest(items) AS node, generate_subscripts(items, 1) AS idx,
FROM node_lists
WHERE items IS NOT NULL;

CREATE OR REPLACE TEMP TABLE node_items AS
SELECT region, project_id, pool_id, name ->> '$' AS node_name, node
FROM (SELECT *, CASE WHEN json_type(node) = 'OBJECT' THEN json_extract(node, '$.metadata.name') END AS name
      FROM node_all_items)
WHERE json_type(name) = 'VARCHAR' AND name ->> '$' <> ''
QUALIFY row_number() OVER (PARTITION BY region, project_id, pool_id, name ->> '$' ORDER BY page, idx) = 1
