-- Non-table step 4: the snapshots of the catalog, in time order. history.py materializes this SELECT as
-- TEMP TABLE _h_snaps (one row per snapshot).
--   snapshot_at   TIMESTAMPTZ  snapshot time
--   snapshot_id   VARCHAR      its id (ids and times are one-to-one)
--   next_snap     TIMESTAMPTZ  the next snapshot's time; NULL for the latest
SELECT snapshot_at, snapshot_id, lead(snapshot_at) OVER (ORDER BY snapshot_at) AS next_snap
FROM (
    SELECT snapshot_at, min(snapshot_id) AS snapshot_id
    FROM (
        SELECT DISTINCT snapshot_at, snapshot_id FROM _h_fetches
        UNION
        SELECT DISTINCT snapshot_at, snapshot_id FROM pools
    )
    GROUP BY snapshot_at
)
