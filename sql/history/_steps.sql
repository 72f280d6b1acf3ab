-- Non-table step 4: each presence observation placed in its pool's timeline. history.py materializes this
-- SELECT as TEMP TABLE _h_steps, keeping only the rows later steps need: version starts, observations followed
-- by a deletion, and each pool's last observation (a few rows per pool, not one per snapshot).
--
-- The timeline of a pool holds its presence observations (_h_obs) and its absence observations: a snapshot in
-- which the pool is not in `pools` although a listing in _h_scans covered it (same region and project, and no
-- workspace filter or the pool's workspace) or a ShowPool for it answered 404 (_h_show_gone). Snapshots in
-- which the pool was not observed at all (its project's listing failed) are simply not in the timeline, so the
-- next observation is compared with the last one before the gap.
-- The first absence observation after a presence, found with ASOF joins, is a deletion when it comes before the
-- pool's next presence (or there is none). A presence that follows a deletion is a (re-)creation.
--   snapshot_id, snapshot_at, region, project_id, pool_id, workspace_id, pkey, h  from _h_obs
--   prev_id, prev_at  VARCHAR, TIMESTAMPTZ  the pool's previous presence observation (NULL for the first)
--   prev_ws           VARCHAR      workspace_id at that previous presence
--   prev_gone_at, prev_gone_id     the deletion that followed the previous presence, if any (then this row is a
--                                  re-creation)
--   gone_at, gone_id  TIMESTAMPTZ, VARCHAR  the deletion that follows this presence, if any
--   is_start          BOOLEAN      first presence, re-creation, or content hash differs from the previous
--                                  presence: a candidate version start (checked field by field in _diffs.sql)
--   is_last           BOOLEAN      the pool's last presence observation
WITH nxt AS (
    SELECT o.*,
           least(a.snapshot_at, w.snapshot_at, g.snapshot_at) AS absent_at,
           CASE least(a.snapshot_at, w.snapshot_at, g.snapshot_at)
               WHEN a.snapshot_at THEN a.snapshot_id
               WHEN w.snapshot_at THEN w.snapshot_id
               ELSE g.snapshot_id
           END AS absent_id
    FROM _h_obs AS o
    ASOF LEFT JOIN (SELECT * FROM _h_scans WHERE workspace_id IS NULL) AS a
           ON a.region = o.region AND a.project_id = o.project_id AND o.snapshot_at < a.snapshot_at
    ASOF LEFT JOIN (SELECT * FROM _h_scans WHERE workspace_id IS NOT NULL) AS w
           ON w.region = o.region AND w.project_id = o.project_id AND w.workspace_id = o.workspace_id
          AND o.snapshot_at < w.snapshot_at
    ASOF LEFT JOIN _h_show_gone AS g
           ON g.pkey = o.pkey AND o.snapshot_at < g.snapshot_at
),
seq AS (
    SELECT *,
           lag(snapshot_id) OVER w AS prev_id,
           lag(snapshot_at) OVER w AS prev_at,
           lag(h) OVER w AS prev_h,
           lag(workspace_id) OVER w AS prev_ws,
           lag(absent_at) OVER w AS prev_absent_at,
           lag(absent_id) OVER w AS prev_absent_id,
           lead(snapshot_at) OVER w AS next_at
    FROM nxt
    WINDOW w AS (PARTITION BY pkey ORDER BY snapshot_at)
),
marked AS (
    SELECT *,
           CASE WHEN prev_absent_at < snapshot_at THEN prev_absent_at END AS prev_gone_at,
           CASE WHEN prev_absent_at < snapshot_at THEN prev_absent_id END AS prev_gone_id,
           CASE WHEN next_at IS NULL OR absent_at < next_at THEN absent_at END AS gone_at,
           CASE WHEN next_at IS NULL OR absent_at < next_at THEN absent_id END AS gone_id
    FROM seq
)
SELECT snapshot_id, snapshot_at, region, project_id, pool_id, workspace_id, pkey, h,
       prev_id, prev_at, prev_ws, prev_gone_at, prev_gone_id, gone_at, gone_id,
       prev_at IS NULL OR prev_gone_at IS NOT NULL OR h <> prev_h AS is_start,
       next_at IS NULL AS is_last
FROM marked
WHERE prev_at IS NULL OR prev_gone_at IS NOT NULL OR h <> prev_h OR gone_at IS NOT NULL OR next_at IS NULL
