-- Non-table step 7: each presence observation placed in its pool's timeline, with one window pass over
-- _h_obs. history.py materializes this SELECT as TEMP TABLE _h_seq, keeping only the rows later steps need
-- (a few per pool, not one per snapshot): candidate version starts, the rows on either side of a gap, and each
-- pool's last observation. Text columns are joined back (from _h_keys, _h_snaps) on those rows only.
--
-- A gap: a pool's next presence is not in the very next snapshot of the catalog (or it has no next presence
-- and later snapshots exist). Only across a gap can the pool have been seen absent, so only gap rows need the
-- ASOF joins of _steps.sql; for the usual row (seen again an hour later) nothing can have happened in between.
--   snapshot_id, snapshot_at, region, project_id, pool_id, workspace_id, pkey, h  the observation
--   prev_id, prev_at  VARCHAR, TIMESTAMPTZ  the pool's previous presence observation (NULL for the first)
--   prev_h            UBIGINT      its content hash
--   prev_ws           VARCHAR      its workspace_id
--   next_at           TIMESTAMPTZ  the pool's next presence observation (NULL for the last)
--   gap_after         BOOLEAN      a snapshot exists between this presence and the next one (or after the last)
--   gap_before        BOOLEAN      a snapshot exists between the previous presence and this one
WITH seq AS (
    SELECT o.snapshot_at, o.pkey, o.workspace_id, o.h, s.next_snap,
           lag(o.snapshot_at) OVER w AS prev_at,
           lag(o.h) OVER w AS prev_h,
           lag(o.workspace_id) OVER w AS prev_ws,
           lag(s.next_snap) OVER w AS prev_next_snap,
           lead(o.snapshot_at) OVER w AS next_at
    FROM _h_obs AS o
    JOIN _h_snaps AS s ON s.snapshot_at = o.snapshot_at
    WINDOW w AS (PARTITION BY o.pkey ORDER BY o.snapshot_at)
),
marked AS (
    SELECT *,
           coalesce(next_at > next_snap, next_at IS NULL AND next_snap IS NOT NULL) AS gap_after,
           coalesce(prev_next_snap < snapshot_at, false) AS gap_before
    FROM seq
),
kept AS (
    SELECT *
    FROM marked
    WHERE prev_at IS NULL OR h <> prev_h OR gap_after OR gap_before OR next_at IS NULL
)
SELECT s.snapshot_id, m.snapshot_at, k.region, k.project_id, k.pool_id, m.workspace_id, m.pkey, m.h,
       p.snapshot_id AS prev_id, m.prev_at, m.prev_h, m.prev_ws, m.next_at, m.gap_after, m.gap_before
FROM kept AS m
JOIN _h_keys AS k ON k.pkey = m.pkey
JOIN _h_snaps AS s ON s.snapshot_at = m.snapshot_at
LEFT JOIN _h_snaps AS p ON p.snapshot_at = m.prev_at
