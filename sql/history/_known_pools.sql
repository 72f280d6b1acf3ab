-- Non-table step, read before a snapshot fetches (pipeline/land/fetch.py known_pools): the pools each project is
-- known to have, so that a pool missing from a listing can be confirmed gone (or not) in the same snapshot.
-- Runs on a read-only connection to the catalog (inventory.duckdb).
--
-- A pool is known when its latest presence (a `pools` row) is later than its latest confirmed absence (a
-- show_pool call answered 404 ModelArts.50015001), or it was never confirmed absent. A pool that vanished from
-- listings but whose confirmation failed stays known, so it is asked about again in the next snapshot.
--   region, project_id, pool_id  VARCHAR  the pool
--   workspace_id  VARCHAR      its workspace at its latest presence, "0" (the default workspace) when unlabelled:
--                              a workspace-filtered listing covers only its workspace's pools
WITH seen AS (
    SELECT region, project_id, pool_id, max(snapshot_at) AS seen_at,
           arg_max(coalesce(workspace_id, '0'), snapshot_at) AS workspace_id
    FROM pools
    GROUP BY ALL
),
gone AS (
    SELECT region, project_id, pool_id, max(snapshot_at) AS gone_at
    FROM fetches
    WHERE call = 'show_pool' AND http_status = 404 AND error_code = 'ModelArts.50015001' AND pool_id IS NOT NULL
    GROUP BY ALL
)
SELECT s.region, s.project_id, s.pool_id, s.workspace_id
FROM seen AS s
LEFT JOIN gone AS g USING (region, project_id, pool_id)
WHERE g.gone_at IS NULL OR s.seen_at > g.gone_at
