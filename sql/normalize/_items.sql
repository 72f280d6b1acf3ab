-- Non-table step 1b: every landed body cut into candidate pool documents (pool_cut, _cut.sql), joined to its
-- context. normalize.py materializes this SELECT as TABLE _items, the input of _dups.sql, _docs.sql and
-- rejected_documents.sql. Reads TABLE _bodies (_bodies.sql) and, through pool_cut, TABLE _show_raw.
--
-- Parameters
--   $list0 .. $list7  VARCHAR[]  the distinct readable paths of list_pools bodies, dealt into 8 lists (_cut.sql)
--
-- The rejected items of a huge list body (more than pool_huge_items() items) are left out: a body of millions of
-- empty items would otherwise keep millions of rows here. _huge_rejected.sql counts them in a second pass over
-- those bodies only; the body's marker row (is_doc false, huge true) names it.
--
-- Output: one row per candidate document, per body that yields no document, and per huge body (see _cut.sql):
--   body_idx, snapshot_id, snapshot_at, region, project_id, source, path, response_id   from _bodies
--   is_doc        BOOLEAN  true for a candidate document (see _cut.sql)
--   item_index    INTEGER  0-based index in `items` for list bodies; NULL for show_pool bodies and whole-body rows
--   huge          BOOLEAN  the row is the marker row of a huge list body (false for every other row)
--   doc_key       BIGINT   unique per row and increasing in input order: body_idx * 2^32 + item_index
--   pool_id       VARCHAR  metadata.name (see _cut.sql)
--   reason        VARCHAR  why the row is unusable (see rejected_documents.sql); NULL for a usable document
--   excerpt       VARCHAR  first 200 characters of a rejected body or document (see _cut.sql); else NULL
--   p             STRUCT   the parsed document (schema in _cut.sql)
--   count_suspect BOOLEAN  the document's counts are checked exactly by _bad_counts.sql (see _cut.sql)
--   cn_mode_lower VARCHAR  spec.containernetwork.mode (SDK key), see _cut.sql
-- The context is joined last, on the narrow (path, source) key, with _bodies (small) as the hash table side:
-- joining before the bodies are cut would put whole bodies into the hash table and serialize the parsing.
-- RIGHT JOIN: a body whose file was not read (unreadable, unknown source) still gets its row.
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
       coalesce(i.huge AND NOT i.is_doc, false) AS huge,
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
       coalesce(i.count_suspect, false) AS count_suspect,
       i.cn_mode_lower
FROM (
    SELECT * FROM pool_cut($list0, $list1, $list2, $list3, $list4, $list5, $list6, $list7, true)
    WHERE NOT (huge AND is_doc AND reason IS NOT NULL)
) AS i
RIGHT JOIN _bodies AS b ON i.path = b.path AND i.source = b.source AND b.readable
