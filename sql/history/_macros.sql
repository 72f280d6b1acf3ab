-- Non-table step 0: macros for the other steps. history.py runs this file first, on its own cursor (TEMP macros
-- vanish with it).
--
-- h_pool_fields(p) -> STRUCT(k VARCHAR, v JSON)[]
--     The pools fields of a pool's content, from a row `p` of pools (or of _h_rows): one {k: column name,
--     v: value as JSON} per content column, in a fixed order, NULL columns included (v is SQL NULL).
--     created_at is written as "YYYY-MM-DDTHH:MM:SSZ" in UTC, whatever the session's TimeZone.
--     Used by _entries.sql (content) and _diffs.sql (which pools fields changed).
CREATE OR REPLACE TEMP MACRO h_pool_fields(p) AS [
    {'k': 'display_name', 'v': to_json(p.display_name)},
    {'k': 'workspace_id', 'v': to_json(p.workspace_id)},
    {'k': 'resource_id', 'v': to_json(p.resource_id)},
    {'k': 'pool_type', 'v': to_json(p.pool_type)},
    {'k': 'phase', 'v': to_json(p.phase)},
    {'k': 'message', 'v': to_json(p.message)},
    {'k': 'parent', 'v': to_json(p.parent)},
    {'k': 'root', 'v': to_json(p.root)},
    {'k': 'is_physical', 'v': to_json(p.is_physical)},
    {'k': 'created_at', 'v': to_json(replace(timezone('UTC', p.created_at)::VARCHAR, ' ', 'T') || 'Z')},
    {'k': 'description', 'v': to_json(p.description)},
    {'k': 'billing_mode', 'v': to_json(p.billing_mode)},
    {'k': 'period_type', 'v': to_json(p.period_type)},
    {'k': 'period_num', 'v': to_json(p.period_num)},
    {'k': 'auto_renew', 'v': to_json(p.auto_renew)},
    {'k': 'order_id', 'v': to_json(p.order_id)},
    {'k': 'subpools_count', 'v': to_json(p.subpools_count)},
    {'k': 'control_mode', 'v': to_json(p.control_mode)},
    {'k': 'cm_to_yearly_monthly_restricted', 'v': to_json(p.cm_to_yearly_monthly_restricted)},
    {'k': 'cm_flavor_change_restricted', 'v': to_json(p.cm_flavor_change_restricted)},
    {'k': 'cm_service_restricted', 'v': to_json(p.cm_service_restricted)},
    {'k': 'cm_frozen', 'v': to_json(p.cm_frozen)},
    {'k': 'cm_police_frozen', 'v': to_json(p.cm_police_frozen)},
    {'k': 'network_name', 'v': to_json(p.network_name)},
    {'k': 'container_network_mode', 'v': to_json(p.container_network_mode)},
    {'k': 'gpu_driver_version', 'v': to_json(p.gpu_driver_version)},
    {'k': 'npu_driver_version', 'v': to_json(p.npu_driver_version)},
    {'k': 'driver_update_strategy', 'v': to_json(p.driver_update_strategy)},
    {'k': 'gpu_driver_state', 'v': to_json(p.gpu_driver_state)},
    {'k': 'npu_driver_state', 'v': to_json(p.npu_driver_state)}
    ];
