-- Non-table step 14 (full recomputation only): the history state, one row per pool ever seen, as of the latest
-- snapshot. history.py writes this SELECT as the state file of a rebuilt history (lake/_history/state-*.parquet);
-- each incremental step (_fold_*.sql) reads the state as of the previous snapshot and writes the next one with
-- exactly these columns, so that a snapshot is compared with each pool's last observation without reading any
-- older snapshot. Runs after the full recomputation's steps, on _h_steps, _h_entries, _h_show_gone, _h_versions
-- and _h_rows.
--   region, project_id, pool_id  VARCHAR  the pool
--   last_snapshot_id   VARCHAR      the pool's last presence observation (a row in `pools`)
--   last_workspace_id  VARCHAR      its workspace_id there (which workspace-filtered listing should return it)
--   entries            STRUCT(k VARCHAR, kv VARCHAR)[]
--                                   its content at the last presence as a field map (_entries.sql: field path k,
--                                   JSON member text kv), sorted by kv
--   gone_snapshot_id   VARCHAR      the snapshot that saw the pool gone after its last presence (its deletion);
--                                   NULL while it is not deleted
--   absent_snapshot_id VARCHAR      the latest snapshot that saw it absent since that deletion (a re-creation's
--                                   previous_snapshot_id); NULL while it is not deleted
--   version            INTEGER      number of the pool's latest version (a re-creation continues from it)
--   valid_from         TIMESTAMPTZ  that version's valid_from
--   first_snapshot_id  VARCHAR      that version's first_snapshot_id
--   flat               STRUCT(...)  that version's pools columns (display_name ... npu_driver_state, the 30
--                                   content columns of pool_versions, same names and types)
-- That version's content is `entries` as a JSON object: every presence since the version started had the same
-- field map, so the last one's is the version's ('{' || the kv texts, in order, joined by ',' || '}', exactly
-- as _starts.sql writes content). While the pool is not deleted its latest version is open (valid_to, ended_by
-- NULL; last_snapshot_id = last_snapshot_id): the catalog's pool_versions shows those from this file, the
-- closed ones from the history files.
WITH last AS (
    SELECT pkey, region, project_id, pool_id, snapshot_id, workspace_id, gone_at, gone_id
    FROM _h_steps
    WHERE is_last
),
latest_start AS (
    -- The last candidate start has the content of every later presence (same hash).
    SELECT pkey, max(snapshot_at) AS snapshot_at
    FROM _h_steps
    WHERE is_start
    GROUP BY pkey
),
fields AS (
    SELECT e.pkey, list({'k': e.k, 'kv': e.kv} ORDER BY e.kv) AS entries
    FROM _h_entries AS e
    JOIN latest_start AS s ON s.pkey = e.pkey AND s.snapshot_at = e.snapshot_at
    GROUP BY e.pkey
),
absences AS (
    -- Every absence observation (a confirmed 404) since the deletion: the pool has no presence after its last one.
    SELECT l.pkey, g.snapshot_at, g.snapshot_id
    FROM last AS l
    JOIN _h_show_gone AS g ON g.pkey = l.pkey AND g.snapshot_at >= l.gone_at
),
latest_absence AS (
    SELECT pkey, arg_max(snapshot_id, snapshot_at) AS snapshot_id
    FROM absences
    GROUP BY pkey
),
v AS (
    SELECT *
    FROM _h_versions
    QUALIFY row_number() OVER (PARTITION BY pkey ORDER BY version DESC) = 1
)
SELECT l.region, l.project_id, l.pool_id,
       l.snapshot_id AS last_snapshot_id,
       l.workspace_id AS last_workspace_id,
       f.entries,
       l.gone_id AS gone_snapshot_id,
       CASE WHEN l.gone_id IS NOT NULL THEN coalesce(a.snapshot_id, l.gone_id) END AS absent_snapshot_id,
       v.version::INTEGER AS version,
       v.valid_from,
       v.first_snapshot_id,
       struct_pack(r.display_name, r.workspace_id, r.resource_id, r.pool_type, r.phase, r.message, r.parent,
                   r.root, r.is_physical, r.created_at, r.description, r.billing_mode, r.period_type,
                   r.period_num, r.auto_renew, r.order_id, r.subpools_count, r.control_mode,
                   r.cm_to_yearly_monthly_restricted, r.cm_flavor_change_restricted, r.cm_service_restricted,
                   r.cm_frozen, r.cm_police_frozen, r.network_name, r.container_network_mode,
                   r.gpu_driver_version, r.npu_driver_version, r.driver_update_strategy, r.gpu_driver_state,
                   r.npu_driver_state) AS flat
FROM last AS l
JOIN fields AS f ON f.pkey = l.pkey
JOIN v ON v.pkey = l.pkey
JOIN _h_rows AS r ON r.pkey = v.pkey AND r.snapshot_at = v.valid_from  -- as pool_versions.sql
LEFT JOIN latest_absence AS a ON a.pkey = l.pkey
