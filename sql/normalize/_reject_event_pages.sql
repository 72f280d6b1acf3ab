-- Non-table step: what pool_events.sql skips in the ListEvents pages (event_pages), for rejected_documents
-- (pipeline/normalize/step.py): one row per page or item not read. A page that is an object without `items`
-- (or with `items` null) is an empty list, not a rejection (the service omits absent fields); an event whose
-- message has neither documented form is kept raw in pool_events, not rejected.
--   region, project_id, pool_id, call, page   the page (as event_pages)
--   item_index  INTEGER  0-based index in `items`; NULL for the whole page
--   reason      VARCHAR  body is not valid JSON | body is not an object | body's items is not an array |
--                        item is not an object | item has no reason or message (neither is text: not an event)
--   item        VARCHAR  the item's JSON, NULL for the whole page
WITH items AS (
    SELECT region, project_id, pool_id, call, page, unnest(range(len(l))) AS item_index, unnest(l) AS item
    FROM (SELECT *, from_json(json_extract(content, '$.items'), '["JSON"]') AS l
          FROM event_pages
          WHERE json_valid(content) AND json_type(content, '$.items') = 'ARRAY')
)
SELECT region, project_id, pool_id, call, page, NULL::INTEGER AS item_index,
       CASE WHEN NOT json_valid(content) THEN 'body is not valid JSON'
            WHEN json_type(content) <> 'OBJECT' THEN 'body is not an object'
            ELSE 'body''s items is not an array' END AS reason,
       NULL::VARCHAR AS item
FROM event_pages
WHERE NOT json_valid(content) OR json_type(content) <> 'OBJECT'
   OR coalesce(json_type(content, '$.items'), 'NULL') NOT IN ('ARRAY', 'NULL')
UNION ALL
SELECT region, project_id, pool_id, call, page, item_index::INTEGER,
       CASE WHEN json_type(item) IS DISTINCT FROM 'OBJECT' THEN 'item is not an object'
            ELSE 'item has no reason or message' END,
       item::VARCHAR
FROM items
WHERE json_type(item) IS DISTINCT FROM 'OBJECT'
   OR (json_type(item, '$.reason') IS DISTINCT FROM 'VARCHAR' AND json_type(item, '$.message') IS DISTINCT FROM 'VARCHAR')
