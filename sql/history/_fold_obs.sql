-- Fold step 3 (incremental history): what the snapshot (_f_snap) observed of each pool, against the pool's
-- last observation (the state _f_state, see _state.sql). history_fold.py materializes this SELECT as TEMP TABLE
-- _f_obs: one row per pool in the state or in the snapshot. The observation rules are those of the full
-- recomputation, read from the same steps: present = a row in `pools` (_f_now); absent = not present, and a
-- ShowPool for it answered 404 ModelArts.50015001 (_show_gone.sql: deletions are confirmed, a listing alone never
-- observes an absence); otherwise unobserved, and the state carries over unchanged.
--   region, project_id, pool_id  VARCHAR  the pool
--   present    BOOLEAN  in `pools` in this snapshot
--   kind       VARCHAR  created: present, and never seen before or deleted before (a re-creation)
--                       candidate: present, alive, and its field map differs from the last presence's (an
--                                  update if _fold_diffs.sql finds a changed field)
--                       same: present, alive, same content
--                       deleted: absent, and alive until now (the deletion: emitted once)
--                       absent: absent again after its deletion
--                       NULL: not observed
WITH absent AS (
    SELECT s.region, s.project_id, s.pool_id
    FROM _f_state AS s
    ANTI JOIN _f_now AS n ON n.region = s.region AND n.project_id = s.project_id AND n.pool_id = s.pool_id
    WHERE EXISTS (SELECT 1 FROM _h_show_gone AS g WHERE g.pkey = hash(s.region, s.project_id, s.pool_id))
)
SELECT coalesce(n.region, s.region) AS region,
       coalesce(n.project_id, s.project_id) AS project_id,
       coalesce(n.pool_id, s.pool_id) AS pool_id,
       n.pool_id IS NOT NULL AS present,
       CASE WHEN n.pool_id IS NOT NULL THEN
                CASE WHEN s.pool_id IS NULL OR s.gone_snapshot_id IS NOT NULL THEN 'created'
                     WHEN n.entries IS DISTINCT FROM s.entries THEN 'candidate'
                     ELSE 'same' END
            WHEN a.pool_id IS NOT NULL THEN
                CASE WHEN s.gone_snapshot_id IS NULL THEN 'deleted' ELSE 'absent' END
       END AS kind
FROM _f_state AS s
FULL JOIN _f_now AS n ON n.region = s.region AND n.project_id = s.project_id AND n.pool_id = s.pool_id
LEFT JOIN absent AS a ON a.region = s.region AND a.project_id = s.project_id AND a.pool_id = s.pool_id
