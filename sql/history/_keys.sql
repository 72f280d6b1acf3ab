-- Non-table step 2: the pools, by key. history.py materializes this SELECT as TEMP TABLE _h_keys (one row per
-- pool ever seen) and checks that no two pools share a pkey.
--   pkey          UBIGINT      hash(region, project_id, pool_id)
--   region, project_id, pool_id  VARCHAR  the pool
SELECT hash(region, project_id, pool_id) AS pkey, region, project_id, pool_id
FROM (SELECT DISTINCT region, project_id, pool_id FROM pools)
