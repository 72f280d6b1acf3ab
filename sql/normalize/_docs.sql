-- Non-table step 4: the staging relation `docs`, one row per usable pool document: the input of every pool
-- table. normalize.py creates it as VIEW docs.
--
-- Usable: _items found no reason to reject it, and it is the first document with its metadata.name within
-- (snapshot_id, project_id) (see _dups.sql; the others go to rejected_documents).
--   doc_key      BIGINT       unique document key (see _items.sql)
--   snapshot_id  VARCHAR      BodyRef.snapshot_id
--   snapshot_at  TIMESTAMPTZ  BodyRef.snapshot_at (UTC)
--   region       VARCHAR      BodyRef.region
--   project_id   VARCHAR      BodyRef.project_id
--   source       VARCHAR      BodyRef.source: list_pools | show_pool
--   response_id  VARCHAR      BodyRef.response_id
--   item_index   INTEGER      index in the list body's items (NULL for show_pool)
--   pool_id      VARCHAR      metadata.name
--   p            STRUCT       the parsed document (schema in _cut.sql)
--   cn_mode_lower VARCHAR     spec.containernetwork.mode (SDK key), see _cut.sql
SELECT doc_key, snapshot_id, snapshot_at, region, project_id, source, response_id, item_index, pool_id,
       p, cn_mode_lower
FROM _items
WHERE reason IS NULL AND is_doc
  AND doc_key NOT IN (SELECT doc_key FROM _dups)
