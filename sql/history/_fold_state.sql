-- Fold output (incremental history): the state after this snapshot (columns: _state.sql). history_fold.py
-- writes this SELECT as the next state file. A present pool takes this observation as its last one (a new
-- version when created or updated); a pool seen absent records its deletion, or a later absence; an unobserved
-- pool keeps its state.
WITH o AS (
    SELECT o.*, o.kind = 'created' OR d.pool_id IS NOT NULL AS starts
    FROM _f_obs AS o
    LEFT JOIN _f_diffs AS d ON d.region = o.region AND d.project_id = o.project_id AND d.pool_id = o.pool_id
)
SELECT o.region, o.project_id, o.pool_id,
       CASE WHEN o.present THEN f.snapshot_id ELSE s.last_snapshot_id END AS last_snapshot_id,
       CASE WHEN o.present THEN n.workspace_id ELSE s.last_workspace_id END AS last_workspace_id,
       CASE WHEN o.present THEN n.entries ELSE s.entries END AS entries,
       CASE WHEN o.present THEN NULL
            WHEN o.kind = 'deleted' THEN f.snapshot_id
            ELSE s.gone_snapshot_id END AS gone_snapshot_id,
       CASE WHEN o.present THEN NULL
            WHEN o.kind IN ('deleted', 'absent') THEN f.snapshot_id
            ELSE s.absent_snapshot_id END AS absent_snapshot_id,
       (CASE WHEN o.starts THEN coalesce(s.version, 0) + 1 ELSE s.version END)::INTEGER AS version,
       CASE WHEN o.starts THEN f.snapshot_at ELSE s.valid_from END AS valid_from,
       CASE WHEN o.starts THEN f.snapshot_id ELSE s.first_snapshot_id END AS first_snapshot_id,
       CASE WHEN o.starts THEN n.flat ELSE s.flat END AS flat
FROM o
LEFT JOIN _f_state AS s ON s.region = o.region AND s.project_id = o.project_id AND s.pool_id = o.pool_id
LEFT JOIN _f_now AS n ON n.region = o.region AND n.project_id = o.project_id AND n.pool_id = o.pool_id
CROSS JOIN _f_snap AS f
