-- Non-table step 11: field-by-field difference of each candidate update with the version before it.
-- history.py materializes this SELECT as TEMP TABLE _h_diffs. A candidate update (_h_steps.is_start, not a
-- creation) is compared with the pool's previous candidate start: every presence observation in between has
-- the same content hash as that start, hence the same content, so it stands for "the previous observation".
-- The pools columns are compared row to row (_h_rows, h_pool_fields); the other fields through a full join of
-- the two field maps (_h_entries) on the field path. A candidate whose fields all compare equal (its hash
-- differed only in what the field map does not show) gets no row here, and is not a change.
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
pool_pairs AS (
    SELECT u.pkey, u.snapshot_at,
           unnest(h_pool_fields(a)) AS fa,
           unnest(h_pool_fields(b)) AS fb
    FROM upd AS u
    JOIN _h_rows AS a ON a.pkey = u.pkey AND a.snapshot_at = u.snapshot_at
    JOIN _h_rows AS b ON b.pkey = u.pkey AND b.snapshot_at = u.base_at
),
pool_d AS (
    SELECT pkey, snapshot_at, fa.k AS k,
           to_json(fb.k)::VARCHAR || ':' || coalesce(fb.v::VARCHAR, 'null') AS bkv,
           to_json(fa.k)::VARCHAR || ':' || coalesce(fa.v::VARCHAR, 'null') AS akv
    FROM pool_pairs
    WHERE fa.v::VARCHAR IS DISTINCT FROM fb.v::VARCHAR
),
a AS (
    SELECT u.pkey, u.snapshot_at, e.k, e.kv
    FROM upd AS u
    JOIN _h_entries AS e ON e.pkey = u.pkey AND e.snapshot_at = u.snapshot_at
    WHERE NOT e.pool_field
),
b AS (
    SELECT u.pkey, u.snapshot_at, e.k, e.kv
    FROM upd AS u
    JOIN _h_entries AS e ON e.pkey = u.pkey AND e.snapshot_at = u.base_at
    WHERE NOT e.pool_field
),
kid_d AS (
    SELECT coalesce(a.pkey, b.pkey) AS pkey,
           coalesce(a.snapshot_at, b.snapshot_at) AS snapshot_at,
           coalesce(a.k, b.k) AS k,
           coalesce(b.kv, to_json(a.k)::VARCHAR || ':null') AS bkv,
           coalesce(a.kv, to_json(b.k)::VARCHAR || ':null') AS akv
    FROM a
    FULL JOIN b ON a.pkey = b.pkey AND a.snapshot_at = b.snapshot_at AND a.k = b.k
    WHERE a.kv IS DISTINCT FROM b.kv
),
d AS (
    SELECT * FROM pool_d
    UNION ALL
    SELECT * FROM kid_d
)
SELECT pkey, snapshot_at,
       list(k ORDER BY k) AS changed_fields,
       ('{' || string_agg(bkv, ',' ORDER BY k) || '}')::JSON AS before,
       ('{' || string_agg(akv, ',' ORDER BY k) || '}')::JSON AS after
FROM d
GROUP BY pkey, snapshot_at
