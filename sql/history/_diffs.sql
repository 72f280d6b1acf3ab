-- Non-table step 7: field-by-field difference of each candidate update with the version before it.
-- history.py materializes this SELECT as TEMP TABLE _h_diffs. A candidate update (_h_steps.is_start, not a
-- creation) is compared with the pool's previous candidate start: every presence observation in between has
-- the same content hash as that start, hence the same content, so it stands for "the previous observation".
-- A candidate whose fields all compare equal (its hash differed only in what the field map does not show) gets
-- no row here, and is not a change.
--   pkey, snapshot_at  the update
--   changed_fields  VARCHAR[]  field paths whose value differs (NULL and absent are the same), sorted
--   before, after   JSON       {field path: value} for those fields, keys sorted; null when absent on that side
WITH starts AS (
    SELECT pkey, snapshot_at, prev_at, prev_gone_at,
           lag(snapshot_at) OVER (PARTITION BY pkey ORDER BY snapshot_at) AS base_at
    FROM _h_steps
    WHERE is_start
),
upd AS (
    SELECT pkey, snapshot_at, base_at
    FROM starts
    WHERE prev_at IS NOT NULL AND prev_gone_at IS NULL
),
a AS (
    SELECT u.pkey, u.snapshot_at, e.k, e.v
    FROM upd AS u
    JOIN _h_entries AS e ON e.pkey = u.pkey AND e.snapshot_at = u.snapshot_at
),
b AS (
    SELECT u.pkey, u.snapshot_at, e.k, e.v
    FROM upd AS u
    JOIN _h_entries AS e ON e.pkey = u.pkey AND e.snapshot_at = u.base_at
),
d AS (
    SELECT coalesce(a.pkey, b.pkey) AS pkey,
           coalesce(a.snapshot_at, b.snapshot_at) AS snapshot_at,
           coalesce(a.k, b.k) AS k,
           b.v AS bv,
           a.v AS av
    FROM a
    FULL JOIN b ON a.pkey = b.pkey AND a.snapshot_at = b.snapshot_at AND a.k = b.k
    WHERE a.v::VARCHAR IS DISTINCT FROM b.v::VARCHAR
)
SELECT pkey, snapshot_at,
       list(k ORDER BY k) AS changed_fields,
       ('{' || string_agg(to_json(k)::VARCHAR || ':' || coalesce(bv::VARCHAR, 'null'), ',' ORDER BY k) || '}')::JSON
           AS before,
       ('{' || string_agg(to_json(k)::VARCHAR || ':' || coalesce(av::VARCHAR, 'null'), ',' ORDER BY k) || '}')::JSON
           AS after
FROM d
GROUP BY pkey, snapshot_at
