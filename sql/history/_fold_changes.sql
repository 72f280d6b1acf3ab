-- Fold output (incremental history): the snapshot's rows of pool_changes (columns and meaning: pool_changes.sql).
-- history_fold.py writes this SELECT as the snapshot's pool_changes file.
--   created: never seen before (previous_snapshot_id NULL), or seen again after a deletion (compared with the
--            latest snapshot that saw it absent, _f_state.absent_snapshot_id);
--   updated: a candidate with changed fields (_f_diffs), compared with the last presence;
--   deleted: the first absence after a presence, with the whole last content.
-- A content is its field map's kv texts joined (see _state.sql).
WITH created AS (
    SELECT o.region, o.project_id, o.pool_id, n.flat.display_name AS display_name,
           ('{' || array_to_string(list_transform(n.entries, lambda x: x.kv), ',') || '}')::JSON AS content
    FROM _f_obs AS o
    JOIN _f_now AS n ON n.region = o.region AND n.project_id = o.project_id AND n.pool_id = o.pool_id
    WHERE o.kind = 'created'
),
deleted AS (
    -- The state's flat columns are its open version's: a rename would have started a new version, so this is
    -- the last display_name observed.
    SELECT o.region, o.project_id, o.pool_id, s.last_snapshot_id, s.flat.display_name AS display_name,
           ('{' || array_to_string(list_transform(s.entries, lambda x: x.kv), ',') || '}')::JSON AS content
    FROM _f_obs AS o
    JOIN _f_state AS s ON s.region = o.region AND s.project_id = o.project_id AND s.pool_id = o.pool_id
    WHERE o.kind = 'deleted'
)
SELECT f.snapshot_id, f.snapshot_at, o.region, o.project_id, o.pool_id, o.display_name, 'created' AS change_type,
       list_sort(json_keys(o.content)) AS changed_fields, NULL::JSON AS before, o.content AS after,
       CASE WHEN s.gone_snapshot_id IS NOT NULL THEN s.absent_snapshot_id END AS previous_snapshot_id
FROM created AS o
LEFT JOIN _f_state AS s ON s.region = o.region AND s.project_id = o.project_id AND s.pool_id = o.pool_id
CROSS JOIN _f_snap AS f
UNION ALL
SELECT f.snapshot_id, f.snapshot_at, d.region, d.project_id, d.pool_id, n.flat.display_name, 'updated',
       d.changed_fields, d.before, d.after, s.last_snapshot_id
FROM _f_diffs AS d
JOIN _f_state AS s ON s.region = d.region AND s.project_id = d.project_id AND s.pool_id = d.pool_id
JOIN _f_now AS n ON n.region = d.region AND n.project_id = d.project_id AND n.pool_id = d.pool_id
CROSS JOIN _f_snap AS f
UNION ALL
SELECT f.snapshot_id, f.snapshot_at, d.region, d.project_id, d.pool_id, d.display_name, 'deleted',
       list_sort(json_keys(d.content)), d.content, NULL::JSON, d.last_snapshot_id
FROM deleted AS d
CROSS JOIN _f_snap AS f
