-- Fold step 2 (incremental history): each pool present in the snapshot, with its content. history_fold.py
-- materializes this SELECT as TEMP TABLE _f_now. The field map exactly as the full recomputation builds it
-- (_entries.sql).
--   region, project_id, pool_id  VARCHAR  the pool
--   workspace_id  VARCHAR                          pools.workspace_id
--   entries       STRUCT(k VARCHAR, kv VARCHAR)[]  its field map, sorted by kv (as in _state.sql: the content is
--                                                  these kv texts joined)
--   flat          STRUCT(...)                      its pools columns (as in _state.sql)
WITH e AS (
    SELECT pkey, list({'k': k, 'kv': kv} ORDER BY kv) AS entries
    FROM _h_entries
    GROUP BY pkey
)
SELECT r.region, r.project_id, r.pool_id, r.workspace_id, e.entries,
       struct_pack(r.display_name, r.workspace_id, r.resource_id, r.pool_type, r.phase, r.message, r.parent,
                   r.root, r.is_physical, r.created_at, r.description, r.billing_mode, r.period_type,
                   r.period_num, r.auto_renew, r.order_id, r.subpools_count, r.control_mode,
                   r.cm_to_yearly_monthly_restricted, r.cm_flavor_change_restricted, r.cm_service_restricted,
                   r.cm_frozen, r.cm_police_frozen, r.network_name, r.container_network_mode,
                   r.gpu_driver_version, r.npu_driver_version, r.driver_update_strategy, r.gpu_driver_state,
                   r.npu_driver_state) AS flat
FROM _h_rows AS r
JOIN e ON e.pkey = r.pkey
