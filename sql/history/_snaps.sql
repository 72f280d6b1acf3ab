-- Non-table step 4: the snapshots of the catalog, in time order. history.py materializes this SELECT as
-- TEMP TABLE _h_snaps (one row per snapshot). Every snapshot has fetches rows; a snapshot known only from
-- `pools` (a hand-made lake) gets the id the lake would give it (pipeline/lake/layout.py snapshot_id_for).
--   snapshot_at   TIMESTAMPTZ  snapshot time
--   snapshot_id   VARCHAR      its id (ids and times are one-to-one)
--   next_snap     TIMESTAMPTZ  the next snapshot's time; NULL for the latest
WITH ids AS (
    SELECT snapshot_at, min(snapshot_id) AS snapshot_id FROM _h_fetches GROUP BY snapshot_at
),
ats AS (
    SELECT snapshot_at FROM ids
    UNION
    SELECT DISTINCT snapshot_at FROM _h_obs
)
SELECT a.snapshot_at,
       coalesce(i.snapshot_id, strftime(timezone('UTC', a.snapshot_at), '%Y%m%dT%H%M%SZ')) AS snapshot_id,
       lead(a.snapshot_at) OVER (ORDER BY a.snapshot_at) AS next_snap
FROM ats AS a
LEFT JOIN ids AS i ON i.snapshot_at = a.snapshot_at
