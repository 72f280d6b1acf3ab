-- Non-table step 13: one row per version (SCD type 2), from the version starts and each pool's last
-- observation. history.py materializes this SELECT as TEMP TABLE _h_versions.
-- A version ends at the next update (valid_to = that snapshot), or at a deletion (valid_to = the snapshot where
-- the pool was seen gone); its last observation is the presence just before that, or the pool's last presence.
--   pkey, region, project_id, pool_id, version, valid_from, valid_to, first_snapshot_id, last_snapshot_id,
--   content              as in pool_versions / _h_starts
--   ended_by             VARCHAR  updated | deleted | NULL (current)
--   deleted_snapshot_id  VARCHAR  the snapshot that saw the pool gone, when ended_by = 'deleted'
WITH v AS (
    SELECT s.*,
           row_number() OVER w AS version,
           lead(snapshot_at) OVER w AS n_at,
           lead(change_type) OVER w AS n_type,
           lead(prev_id) OVER w AS n_prev_id,
           lead(prev_gone_at) OVER w AS n_gone_at,
           lead(prev_gone_id) OVER w AS n_gone_id
    FROM _h_starts AS s
    WINDOW w AS (PARTITION BY pkey ORDER BY snapshot_at)
),
l AS (
    SELECT pkey, snapshot_id, gone_at, gone_id FROM _h_steps WHERE is_last
)
SELECT v.pkey, v.region, v.project_id, v.pool_id,
       v.version::INTEGER AS version,
       v.snapshot_at AS valid_from,
       CASE WHEN v.n_at IS NULL THEN l.gone_at WHEN v.n_type = 'updated' THEN v.n_at ELSE v.n_gone_at END
           AS valid_to,
       CASE WHEN v.n_at IS NULL THEN CASE WHEN l.gone_at IS NOT NULL THEN 'deleted' END
            WHEN v.n_type = 'updated' THEN 'updated' ELSE 'deleted' END AS ended_by,
       v.snapshot_id AS first_snapshot_id,
       CASE WHEN v.n_at IS NULL THEN l.snapshot_id ELSE v.n_prev_id END AS last_snapshot_id,
       CASE WHEN v.n_at IS NULL THEN l.gone_id WHEN v.n_type = 'created' THEN v.n_gone_id END
           AS deleted_snapshot_id,
       v.content
FROM v
JOIN l ON l.pkey = v.pkey
