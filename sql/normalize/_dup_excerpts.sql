-- Non-table step 5: the text excerpts of duplicate documents, for rejected_documents. normalize.py materializes
-- this SELECT as TABLE _dup_excerpts. It re-reads only the bodies that hold a duplicate (usually none: then
-- both lists are empty and so is the result). _items keeps excerpts only for the rows it rejects itself:
-- keeping 200 characters of every document cost about 10% of the whole run, for a rare case.
--
-- Parameters: $dup_list, $dup_show (VARCHAR[]): paths of list_pools / show_pool bodies holding a duplicate.
--   path        VARCHAR  the body file
--   source      VARCHAR  list_pools | show_pool
--   item_index  INTEGER  index in `items` (NULL for a show_pool body)
--   excerpt     VARCHAR  first 200 characters of the document's JSON text
WITH lists AS (
    SELECT filename AS path, try(from_json(try(decode(content)), '{"items": "JSON[]"}')).items AS items
    FROM read_blob($dup_list)
)
SELECT path, 'list_pools' AS source,
       unnest(range(len(items)))::INTEGER AS item_index,
       left(unnest(items)::VARCHAR, 200) AS excerpt
FROM lists
UNION ALL
SELECT filename AS path, 'show_pool' AS source, NULL::INTEGER AS item_index,
       left(coalesce(try(decode(content)), content::VARCHAR), 200) AS excerpt
FROM read_blob($dup_show)
