-- Step (not a table): what sql/normalize/pool_events.sql skipped of the landed ListEvents pages (`event_pages`),
-- for the rejected_documents path: one row per page that could not be read, and per item that is not an event
-- object. Its bytes stay in the raw landing either way. A page that is an object without `items` is an empty
-- list, not a rejection (the service omits absent fields); a message of an unknown form is kept raw in
-- pool_events, not rejected.
--
-- column      type     meaning
-- region      VARCHAR  region of the project (run)
-- project_id  VARCHAR  IAM project id (run)
-- pool_id     VARCHAR  pool id the call asked about
-- call        VARCHAR  pool_events
-- page        BIGINT   the page's order among the landed pages of the snapshot's ListEvents calls
-- reason      VARCHAR  not_json (the body is not valid JSON) | not_an_object (valid JSON, not an object) |
--                      items_not_a_list (`items` present but not an array) | item_not_an_object (item number
--                      `<n>`: "item_not_an_object: item <n>")
SELECT region, project_id, pool_id, call, page,
       CASE WHEN NOT json_valid(content) THEN 'not_json'
            WHEN json_type(content) <> 'OBJECT' THEN 'not_an_object'
            ELSE 'items_not_a_list' END AS reason
FROM event_pages
WHERE NOT json_valid(content)
   OR json_type(content) <> 'OBJECT'
   OR (json_type(content, '$.items') IS NOT NULL AND json_type(content, '$.items') NOT IN ('ARRAY', 'NULL'))
UNION ALL
SELECT region, project_id, pool_id, call, page, 'item_not_an_object: item ' || n AS reason
FROM (
    SELECT region, project_id, pool_id, call, page, unnest(items) AS item, unnest(generate_series(1, len(items))) AS n
    FROM (
        SELECT region, project_id, pool_id, call, page,
               from_json(json_extract(content, '$.items'), '["JSON"]') AS items
        FROM event_pages
        WHERE json_valid(content) AND json_type(content, '$.items') = 'ARRAY'
    )
)
WHERE json_type(item) <> 'OBJECT'
ORDER BY page, reason
