-- Non-table step 6: ShowPool calls that saw a pool missing. history.py materializes this SELECT as
-- TEMP TABLE _h_show_gone. A show_pool call observes exactly its pool: ok -> present (it is in `pools`), an
-- error with HTTP 404 ModelArts.50015001 (pool not found) -> absent, any other error -> unobserved (not listed
-- here). Besides ShowPool targets, these are the confirmations a snapshot makes for each known pool missing
-- from a covering listing (pipeline/land/fetch.py): the only way a deletion is observed.
--   snapshot_id   VARCHAR      the snapshot
--   snapshot_at   TIMESTAMPTZ  its time
--   pkey          UBIGINT      hash(region, project_id, pool_id) of the pool asked for
SELECT DISTINCT snapshot_id, snapshot_at, hash(region, project_id, pool_id) AS pkey
FROM _h_fetches
WHERE call = 'show_pool' AND outcome = 'error' AND http_status = 404 AND error_code = 'ModelArts.50015001'
  AND pool_id IS NOT NULL
