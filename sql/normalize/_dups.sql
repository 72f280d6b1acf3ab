-- Non-table step 3: documents whose metadata.name was already seen in the same (snapshot_id, project_id).
-- normalize.py materializes this SELECT as TEMP TABLE _dups (small: only the losers). The first document in
-- input order (body_idx, then item_index, i.e. doc_key) is kept.
--   doc_key   BIGINT  the duplicate (see _items.sql)
--   kept_key  BIGINT  the document kept instead
SELECT doc_key, kept_key
FROM (
    SELECT doc_key,
           first_value(doc_key) OVER w AS kept_key,
           row_number() OVER w AS rank
    FROM _items
    WHERE reason IS NULL AND is_doc
    WINDOW w AS (PARTITION BY snapshot_id, project_id, pool_id ORDER BY doc_key)
)
WHERE rank > 1
