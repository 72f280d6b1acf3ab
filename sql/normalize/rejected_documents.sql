-- Table rejected_documents: one row per body or pool document that could not be used. A rejection never stops
-- the run and never affects the other documents of the same body. The raw bytes stay in the landing.
--
-- column            type         meaning
-- snapshot_id       VARCHAR      snapshot (run)
-- snapshot_at       TIMESTAMPTZ  snapshot time, UTC (run)
-- region            VARCHAR      region (run)
-- project_id        VARCHAR      IAM project id (run)
-- response_id       VARCHAR      landed response the body came from (BodyRef.response_id)
-- source            VARCHAR      list_pools | show_pool (BodyRef.source)
-- item_index        INTEGER      0-based index in the list body's `items`; NULL when the whole body is rejected,
--                                and for a show_pool body (its one document is the body)
-- pool_id           VARCHAR      metadata.name when known (duplicates), else NULL
-- reason            VARCHAR      one of:
--                                  body file could not be read    (missing, not a regular file, unreadable)
--                                  unknown source <source>        (BodyRef.source is not list_pools/show_pool)
--                                  body is not valid UTF-8 text
--                                  body is empty                  (zero bytes, or only white space)
--                                  body is not valid JSON
--                                  body is not a JSON object      (e.g. [] or "x" or null)
--                                  body has no items array        (list body without an `items` ARRAY)
--                                  item is not an object          (an items[] element such as 3, "x", null, [])
--                                  pool has no metadata.name      (absent, null, not a JSON string, or blank)
--                                  duplicate pool id in snapshot  (metadata.name already seen in the same
--                                                                  snapshot_id and project_id; the first is kept)
-- excerpt           VARCHAR      first 200 characters of the offending text: the body, or the item's JSON (bytes
--                                that are not UTF-8 appear as \xNN escapes); NULL when the file was not read
-- kept_response_id  VARCHAR      for a duplicate: the response holding the document that was kept, else NULL
-- kept_item_index   INTEGER      for a duplicate: that document's item_index, else NULL
SELECT snapshot_id, snapshot_at, region, project_id, response_id, source, item_index, pool_id, reason, excerpt,
       NULL::VARCHAR AS kept_response_id, NULL::INTEGER AS kept_item_index
FROM _items
WHERE reason IS NOT NULL
UNION ALL
SELECT r.snapshot_id, r.snapshot_at, r.region, r.project_id, r.response_id, r.source, r.item_index, r.pool_id,
       'duplicate pool id in snapshot' AS reason,
       e.excerpt,
       k.response_id AS kept_response_id, k.item_index AS kept_item_index
FROM _dups AS x
JOIN _items AS r ON r.doc_key = x.doc_key
JOIN _items AS k ON k.doc_key = x.kept_key
LEFT JOIN _dup_excerpts AS e
       ON e.path = r.path AND e.source = r.source AND e.item_index IS NOT DISTINCT FROM r.item_index
