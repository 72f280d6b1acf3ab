-- Fold step 1 (incremental history): the pools present in the snapshot being folded, shaped like the candidate
-- version starts of _steps.sql, so that the full recomputation's own _rows.sql and _entries.sql build their
-- pools rows and field maps. history_fold.py materializes this SELECT as TEMP TABLE _h_steps, on views of
-- `pools`, `pool_labels`, ... that hold that one snapshot's rows only.
--   snapshot_at  TIMESTAMPTZ  the snapshot
--   pkey         UBIGINT      hash(region, project_id, pool_id), as in _h_obs
--   is_start     BOOLEAN      true: every present pool's content is needed
SELECT DISTINCT snapshot_at, hash(region, project_id, pool_id) AS pkey, true AS is_start
FROM pools
