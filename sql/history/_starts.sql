-- Non-table step 12: the version starts: creations (first presence, or presence after a deletion) and the
-- candidate updates that _diffs.sql confirmed, each with its whole content. history.py materializes this SELECT
-- as TEMP TABLE _h_starts.
--   snapshot_id, snapshot_at, region, project_id, pool_id, pkey, prev_id, prev_ws, prev_gone_at, prev_gone_id
--                                  from _h_steps
--   change_type     VARCHAR        created | updated
--   changed_fields  VARCHAR[]      updated: the changed field paths; created: every field path of the content
--   before, after   JSON           updated: the changed fields' values; created: before NULL, after = content
--   content         JSON           the whole content, {field path: value} with keys sorted (in the order of
--                                  their JSON text: the keys' own order unless one holds a space, '!', '"',
--                                  a backslash or a control character)
WITH content AS (
    -- Sorting the "<key>":<value> texts sorts by key (a key ends at its closing quote); plain VARCHAR lists sort
    -- several times faster than lists of structs.
    SELECT snapshot_at, pkey,
           ('{' || array_to_string(list_sort(list(kv)), ',') || '}')::JSON AS content
    FROM _h_entries
    GROUP BY snapshot_at, pkey
)
SELECT c.snapshot_id, c.snapshot_at, c.region, c.project_id, c.pool_id, c.pkey,
       c.prev_id, c.prev_ws, c.prev_gone_at, c.prev_gone_id,
       CASE WHEN c.prev_at IS NULL OR c.prev_gone_at IS NOT NULL THEN 'created' ELSE 'updated' END AS change_type,
       CASE WHEN c.prev_at IS NULL OR c.prev_gone_at IS NOT NULL THEN list_sort(json_keys(t.content))
            ELSE d.changed_fields END AS changed_fields,
       CASE WHEN c.prev_at IS NULL OR c.prev_gone_at IS NOT NULL THEN NULL ELSE d.before END AS before,
       CASE WHEN c.prev_at IS NULL OR c.prev_gone_at IS NOT NULL THEN t.content ELSE d.after END AS after,
       t.content
FROM _h_steps AS c
JOIN content AS t ON t.snapshot_at = c.snapshot_at AND t.pkey = c.pkey
LEFT JOIN _h_diffs AS d ON d.snapshot_at = c.snapshot_at AND d.pkey = c.pkey
WHERE c.is_start AND (c.prev_at IS NULL OR c.prev_gone_at IS NOT NULL OR d.pkey IS NOT NULL)
