-- Fold step 4 (incremental history): field-by-field difference of each candidate update (_f_obs) with the
-- pool's last presence, on the field maps (_f_now.entries, _f_state.entries), as _diffs.sql does: a field absent
-- on one side is null there. history_fold.py materializes this SELECT as TEMP TABLE _f_diffs. A candidate whose
-- fields all compare equal gets no row here, and is not a change.
--   region, project_id, pool_id  VARCHAR  the pool
--   changed_fields  VARCHAR[]  field paths whose value differs, sorted
--   before, after   JSON       {field path: value} for those fields, keys sorted; null when absent on that side
WITH cand AS (
    SELECT region, project_id, pool_id FROM _f_obs WHERE kind = 'candidate'
),
a AS (
    SELECT region, project_id, pool_id, e.k AS k, e.kv AS kv
    FROM (SELECT n.region, n.project_id, n.pool_id, unnest(n.entries) AS e
          FROM _f_now AS n
          SEMI JOIN cand AS c ON c.region = n.region AND c.project_id = n.project_id AND c.pool_id = n.pool_id)
),
b AS (
    SELECT region, project_id, pool_id, e.k AS k, e.kv AS kv
    FROM (SELECT s.region, s.project_id, s.pool_id, unnest(s.entries) AS e
          FROM _f_state AS s
          SEMI JOIN cand AS c ON c.region = s.region AND c.project_id = s.project_id AND c.pool_id = s.pool_id)
),
d AS (
    SELECT coalesce(a.region, b.region) AS region,
           coalesce(a.project_id, b.project_id) AS project_id,
           coalesce(a.pool_id, b.pool_id) AS pool_id,
           coalesce(a.k, b.k) AS k,
           coalesce(b.kv, to_json(a.k)::VARCHAR || ':null') AS bkv,
           coalesce(a.kv, to_json(b.k)::VARCHAR || ':null') AS akv
    FROM a
    FULL JOIN b ON a.region = b.region AND a.project_id = b.project_id AND a.pool_id = b.pool_id AND a.k = b.k
    WHERE a.kv IS DISTINCT FROM b.kv
)
SELECT region, project_id, pool_id,
       list(k ORDER BY k) AS changed_fields,
       ('{' || string_agg(bkv, ',' ORDER BY k) || '}')::JSON AS before,
       ('{' || string_agg(akv, ',' ORDER BY k) || '}')::JSON AS after
FROM d
GROUP BY region, project_id, pool_id
