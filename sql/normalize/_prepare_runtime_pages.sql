-- Non-table step, run once before pool_allocation.sql and pool_workload_counts.sql over the ShowPoolRuntimeMetrics
-- answers (runtime_pages; pipeline/normalize/step.py runs sql/normalize/_prepare_<pages>.sql when there is one):
-- TEMP TABLE runtime_items, one row per pool item both tables read: an object with a non-empty metadata.name and a
-- `table` object. What is not read this way is listed by _reject_runtime_pages.sql.
--   region, project_id  VARCHAR  the answer's project
--   pool_id             VARCHAR  metadata.name
--   t                   JSON     the item's `table` (capacity, allocated, available, workload)
CREATE OR REPLACE TEMP TABLE runtime_items AS
WITH items AS (
    SELECT region, project_id, unnest(from_json(json_extract(content, '$.items'), '["JSON"]')) AS item
    FROM runtime_pages
    WHERE json_valid(content) AND json_type(content, '$.items') = 'ARRAY'
)
SELECT region, project_id, item ->> '$.metadata.name' AS pool_id, json_extract(item, '$.table') AS t
FROM items
WHERE json_type(item) = 'OBJECT' AND json_type(item, '$.table') = 'OBJECT'
  AND coalesce(item ->> '$.metadata.name', '') <> ''
