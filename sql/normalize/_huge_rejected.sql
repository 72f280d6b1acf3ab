-- Non-table step 1c: the rejected items of huge list bodies (more than pool_huge_items() items; _items.sql leaves
-- them out), counted per body and reason with the first pool_rejected_cap() of them kept. normalize.py
-- materializes this SELECT as TABLE _huge_rejected; rejected_documents.sql lists it. A second pass of pool_cut
-- (_cut.sql) over those bodies only: one aggregate state per body and reason, whatever the number of items.
--
-- Parameters: $huge (VARCHAR[]): the paths of the huge list bodies (the marker rows of _items); usually empty.
--   path      VARCHAR    the body file
--   source    VARCHAR    list_pools
--   reason    VARCHAR    why the items were rejected (see rejected_documents.sql)
--   n         BIGINT     how many items of the body were rejected for that reason
--   firsts    STRUCT(item_index INTEGER, pool_id VARCHAR, excerpt VARCHAR)[]
--                        the first pool_rejected_cap() of them by item_index
SELECT path, source, reason,
       count(*) AS n,
       arg_min({'item_index': item_index, 'pool_id': pool_id, 'excerpt': excerpt}, item_index, pool_rejected_cap())
           AS firsts
FROM pool_cut($huge, []::VARCHAR[], []::VARCHAR[], []::VARCHAR[], []::VARCHAR[], []::VARCHAR[], []::VARCHAR[],
              []::VARCHAR[], false)
WHERE is_doc AND reason IS NOT NULL
GROUP BY ALL
