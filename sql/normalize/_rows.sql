-- Non-table step 2: every candidate document with its BodyRef context, plus one row per body that was not
-- read at all. normalize.py creates it as VIEW _rows over TABLE _bodies (_bodies.sql) and TABLE _items (_items.sql).
--
--   body_idx, snapshot_id, snapshot_at, region, project_id, source, path, response_id   from _bodies
--   is_doc, item_index, pool_id, excerpt, p, cn_mode_lower                   from _items
--   doc_key  BIGINT   unique per row and increasing in input order: body_idx * 2^32 + item_index
--   reason   VARCHAR  _items.reason, or 'unknown source <source>' / 'body file could not be read' for a body
--                     whose file was not read (a missing, unreadable or vanished file; an unknown source)
SELECT b.body_idx,
       b.snapshot_id,
       b.snapshot_at,
       b.region,
       b.project_id,
       b.source,
       b.path,
       b.response_id,
       coalesce(i.is_doc, false) AS is_doc,
       i.item_index,
       b.body_idx::BIGINT * 4294967296 + coalesce(i.item_index, 0) AS doc_key,
       i.pool_id,
       CASE
           WHEN b.source IS NULL OR b.source NOT IN ('list_pools', 'show_pool')
               THEN 'unknown source ' || coalesce(b.source, 'NULL')
           WHEN i.path IS NULL THEN 'body file could not be read'
           ELSE i.reason
       END AS reason,
       i.excerpt,
       i.p,
       i.cn_mode_lower
FROM _bodies AS b
LEFT JOIN _items AS i ON i.path = b.path AND i.source = b.source AND b.readable
