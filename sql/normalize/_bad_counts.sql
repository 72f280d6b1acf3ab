-- Non-table step 1d: the exact count check of the documents _cut.sql flagged (count_suspect: a usable document
-- whose text holds a value that might not be a count). normalize.py runs this UPDATE on TABLE _items only when
-- some document is flagged (usually none). A document with a count that is present but fails pool_count_ok
-- (_macros.sql) gets its reason, naming the first such field in this order:
--   spec.resources[].count, spec.resources[].maxCount, spec.resources[].azs[].count,
--   status.resources.<state>[].count, .maxCount, .azs[].count for creating, available, abnormal, deleting,
--   metadata.annotations."os.modelarts.pool/subpools.count"
-- reason = 'invalid count at <field>: not an integer in 0..2147483647'.
UPDATE _items
SET reason = 'invalid count at ' || b.field || ': not an integer in 0..2147483647'
FROM (
    SELECT doc_key, coalesce(
        'spec.resources[].' || pool_entries_bad_count(p.spec.resources),
        'status.resources.creating[].' || pool_entries_bad_count(pool_state_entries(p.status.resources.creating)),
        'status.resources.available[].' || pool_entries_bad_count(pool_state_entries(p.status.resources.available)),
        'status.resources.abnormal[].' || pool_entries_bad_count(pool_state_entries(p.status.resources.abnormal)),
        'status.resources.deleting[].' || pool_entries_bad_count(pool_state_entries(p.status.resources.deleting)),
        CASE WHEN NOT pool_count_ok(json_extract_string(p.metadata.annotations,
                                                        '$."os.modelarts.pool/subpools.count"'))
             THEN 'metadata.annotations."os.modelarts.pool/subpools.count"' END
    ) AS field
    FROM _items
    WHERE count_suspect AND reason IS NULL
) AS b
WHERE _items.doc_key = b.doc_key AND b.field IS NOT NULL
