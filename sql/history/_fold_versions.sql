-- Fold output (incremental history): the versions this snapshot ends (columns: pool_versions.sql), taken from
-- the state, which holds each pool's latest version: ended by an update (valid_to = this snapshot) or by the
-- deletion seen here. history_fold.py writes this SELECT as the snapshot's pool_versions file; open versions
-- live in the state file until they end. The content is the state's field map joined (see _state.sql).
SELECT s.region, s.project_id, s.pool_id, s.version, s.valid_from,
       f.snapshot_at AS valid_to,
       CASE WHEN o.kind = 'deleted' THEN 'deleted' ELSE 'updated' END AS ended_by,
       s.first_snapshot_id, s.last_snapshot_id,
       ('{' || array_to_string(list_transform(s.entries, lambda x: x.kv), ',') || '}')::JSON AS content,
       unnest(s.flat)
FROM _f_obs AS o
JOIN _f_state AS s ON s.region = o.region AND s.project_id = o.project_id AND s.pool_id = o.pool_id
LEFT JOIN _f_diffs AS d ON d.region = o.region AND d.project_id = o.project_id AND d.pool_id = o.pool_id
CROSS JOIN _f_snap AS f
WHERE o.kind = 'deleted' OR d.pool_id IS NOT NULL
