-- Non-table step 8: deletions and re-creations. history.py materializes this SELECT as TEMP TABLE _h_steps.
--
-- The timeline of a pool holds its presence observations (_h_obs) and its absence observations: a snapshot in
-- which a ShowPool for it answered 404 ModelArts.50015001 (_h_show_gone; a pool missing from a covering listing
-- is asked for in the same snapshot, so this is how deletions are seen). A listing alone never observes an
-- absence. Snapshots in which the pool was not observed at all (its project's listing failed, or it was missing
-- from a listing and its ShowPool failed) are simply not in the timeline, so the next observation is compared
-- with the last one before the gap.
-- For each row with a gap after it (_seq.sql), ASOF joins find the first absence observation after it: a
-- deletion when it comes before the pool's next presence (or there is none). A presence that follows a
-- deletion is a (re-)creation.
--   all columns of _h_seq, and
--   gone_at, gone_id  TIMESTAMPTZ, VARCHAR  the deletion that follows this presence, if any
--   prev_gone_at, prev_gone_id     the deletion that followed the previous presence, if any (then this row is a
--                                  re-creation)
--   is_start          BOOLEAN      first presence, re-creation, or content hash differs from the previous
--                                  presence: a candidate version start (checked field by field in _diffs.sql)
--   is_last           BOOLEAN      the pool's last presence observation
WITH g AS (
    SELECT * FROM _h_seq WHERE gap_after
),
nxt AS (
    SELECT g.pkey, g.snapshot_at, g.next_at, x.snapshot_at AS absent_at, x.snapshot_id AS absent_id
    FROM g
    ASOF LEFT JOIN _h_show_gone AS x
           ON x.pkey = g.pkey AND g.snapshot_at < x.snapshot_at
),
gone AS (
    SELECT pkey, snapshot_at, absent_at AS gone_at, absent_id AS gone_id
    FROM nxt
    WHERE absent_at < next_at OR (next_at IS NULL AND absent_at IS NOT NULL)
)
SELECT s.*,
       g1.gone_at, g1.gone_id,
       g0.gone_at AS prev_gone_at, g0.gone_id AS prev_gone_id,
       s.prev_at IS NULL OR g0.gone_at IS NOT NULL OR s.h <> s.prev_h AS is_start,
       s.next_at IS NULL AS is_last
FROM _h_seq AS s
LEFT JOIN gone AS g1 ON g1.pkey = s.pkey AND g1.snapshot_at = s.snapshot_at
LEFT JOIN gone AS g0 ON g0.pkey = s.pkey AND g0.snapshot_at = s.prev_at
