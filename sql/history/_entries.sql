-- Non-table step 6: the content of each candidate version start as a field map, one row per field.
-- history.py materializes this SELECT as TEMP TABLE _h_entries. Field paths (the keys of `content`, `before`,
-- `after` and the values of `changed_fields`); keys, flavors and AZs are used raw, dots and all:
--   <column>                        every content column of `pools` (display_name, phase, message, billing_mode,
--                                   gpu_driver_version, ...), always present, JSON null when NULL
--   labels.<key>                    pool_labels.value          (a key sent twice: the greater value)
--   annotations.<key>               pool_annotations.value     (same)
--   scopes.<scope_type>.requested   pool_scopes.requested (true/false)
--   scopes.<scope_type>.state       pool_scopes.state
--   resources.<flavor>.count        pool_resources.count       (a flavor listed twice: the sum)
--   resources.<flavor>.max_count    pool_resources.max_count   (same)
--   resource_azs.<flavor>.<az>      pool_resource_azs.count    (same)
--   capacity.<state>.<flavor>.count      pool_capacity.count, summed over node pools
--   capacity.<state>.<flavor>.max_count  pool_capacity.max_count, summed over node pools
--   capacity_azs.<state>.<flavor>.<az>   pool_capacity_azs.count, summed over node pools
--   job_flavors                     sorted list of pool_job_flavors.job_flavor (absent when there are none)
-- Values are JSON: text as strings, counts as numbers, flags as booleans, created_at as "YYYY-MM-DDTHH:MM:SSZ"
-- (UTC). Apart from the pools columns, a field whose value is NULL is left out: NULL and absent are the same
-- thing (a label removed reads as before "x", after null). A NULL flavor or AZ is written as "".
--   snapshot_at  TIMESTAMPTZ  the observation
--   pkey         UBIGINT      the pool
--   k            VARCHAR      field path
--   v            JSON         value (SQL NULL only for a NULL pools column)
WITH s AS (
    SELECT snapshot_at, pkey FROM _h_steps WHERE is_start
),
pool_fields AS (
    SELECT snapshot_at, pkey, unnest([
        {'k': 'display_name', 'v': to_json(display_name)},
        {'k': 'workspace_id', 'v': to_json(workspace_id)},
        {'k': 'resource_id', 'v': to_json(resource_id)},
        {'k': 'pool_type', 'v': to_json(pool_type)},
        {'k': 'phase', 'v': to_json(phase)},
        {'k': 'message', 'v': to_json(message)},
        {'k': 'parent', 'v': to_json(parent)},
        {'k': 'root', 'v': to_json(root)},
        {'k': 'is_physical', 'v': to_json(is_physical)},
        {'k': 'created_at', 'v': to_json(replace(timezone('UTC', created_at)::VARCHAR, ' ', 'T') || 'Z')},
        {'k': 'description', 'v': to_json(description)},
        {'k': 'billing_mode', 'v': to_json(billing_mode)},
        {'k': 'period_type', 'v': to_json(period_type)},
        {'k': 'period_num', 'v': to_json(period_num)},
        {'k': 'auto_renew', 'v': to_json(auto_renew)},
        {'k': 'order_id', 'v': to_json(order_id)},
        {'k': 'subpools_count', 'v': to_json(subpools_count)},
        {'k': 'control_mode', 'v': to_json(control_mode)},
        {'k': 'cm_to_yearly_monthly_restricted', 'v': to_json(cm_to_yearly_monthly_restricted)},
        {'k': 'cm_flavor_change_restricted', 'v': to_json(cm_flavor_change_restricted)},
        {'k': 'cm_service_restricted', 'v': to_json(cm_service_restricted)},
        {'k': 'cm_frozen', 'v': to_json(cm_frozen)},
        {'k': 'cm_police_frozen', 'v': to_json(cm_police_frozen)},
        {'k': 'network_name', 'v': to_json(network_name)},
        {'k': 'container_network_mode', 'v': to_json(container_network_mode)},
        {'k': 'gpu_driver_version', 'v': to_json(gpu_driver_version)},
        {'k': 'npu_driver_version', 'v': to_json(npu_driver_version)},
        {'k': 'driver_update_strategy', 'v': to_json(driver_update_strategy)},
        {'k': 'gpu_driver_state', 'v': to_json(gpu_driver_state)},
        {'k': 'npu_driver_state', 'v': to_json(npu_driver_state)}
    ]) AS e
    FROM _h_rows
),
labels AS (
    SELECT t.snapshot_at, s.pkey, 'labels.' || t.key AS k, to_json(max(t.value)) AS v
    FROM pool_labels AS t
    JOIN s ON s.snapshot_at = t.snapshot_at AND s.pkey = hash(t.region, t.project_id, t.pool_id)
    GROUP BY ALL
),
annotations AS (
    SELECT t.snapshot_at, s.pkey, 'annotations.' || t.key AS k, to_json(max(t.value)) AS v
    FROM pool_annotations AS t
    JOIN s ON s.snapshot_at = t.snapshot_at AND s.pkey = hash(t.region, t.project_id, t.pool_id)
    GROUP BY ALL
),
scopes AS (
    SELECT t.snapshot_at, s.pkey, coalesce(t.scope_type, '') AS scope_type,
           bool_or(t.requested) AS requested, max(t.state) AS state
    FROM pool_scopes AS t
    JOIN s ON s.snapshot_at = t.snapshot_at AND s.pkey = hash(t.region, t.project_id, t.pool_id)
    GROUP BY ALL
),
resources AS (
    SELECT t.snapshot_at, s.pkey, coalesce(t.flavor, '') AS flavor,
           sum(t.count) AS count, sum(t.max_count) AS max_count
    FROM pool_resources AS t
    JOIN s ON s.snapshot_at = t.snapshot_at AND s.pkey = hash(t.region, t.project_id, t.pool_id)
    GROUP BY ALL
),
resource_azs AS (
    SELECT t.snapshot_at, s.pkey,
           'resource_azs.' || coalesce(t.flavor, '') || '.' || coalesce(t.az, '') AS k,
           to_json(sum(t.count)) AS v
    FROM pool_resource_azs AS t
    JOIN s ON s.snapshot_at = t.snapshot_at AND s.pkey = hash(t.region, t.project_id, t.pool_id)
    GROUP BY ALL
),
capacity AS (
    SELECT t.snapshot_at, s.pkey, coalesce(t.state, '') AS state, coalesce(t.flavor, '') AS flavor,
           sum(t.count) AS count, sum(t.max_count) AS max_count
    FROM pool_capacity AS t
    JOIN s ON s.snapshot_at = t.snapshot_at AND s.pkey = hash(t.region, t.project_id, t.pool_id)
    GROUP BY ALL
),
capacity_azs AS (
    SELECT t.snapshot_at, s.pkey,
           'capacity_azs.' || coalesce(t.state, '') || '.' || coalesce(t.flavor, '') || '.' || coalesce(t.az, '')
               AS k,
           to_json(sum(t.count)) AS v
    FROM pool_capacity_azs AS t
    JOIN s ON s.snapshot_at = t.snapshot_at AND s.pkey = hash(t.region, t.project_id, t.pool_id)
    GROUP BY ALL
),
job_flavors AS (
    SELECT t.snapshot_at, s.pkey, 'job_flavors' AS k,
           to_json(list(DISTINCT t.job_flavor ORDER BY t.job_flavor)) AS v
    FROM pool_job_flavors AS t
    JOIN s ON s.snapshot_at = t.snapshot_at AND s.pkey = hash(t.region, t.project_id, t.pool_id)
    WHERE t.job_flavor IS NOT NULL
    GROUP BY ALL
),
scope_fields AS (
    SELECT snapshot_at, pkey, unnest([
        {'k': 'scopes.' || scope_type || '.requested', 'v': to_json(requested)},
        {'k': 'scopes.' || scope_type || '.state', 'v': to_json(state)}
    ]) AS e
    FROM scopes
),
resource_fields AS (
    SELECT snapshot_at, pkey, unnest([
        {'k': 'resources.' || flavor || '.count', 'v': to_json(count)},
        {'k': 'resources.' || flavor || '.max_count', 'v': to_json(max_count)}
    ]) AS e
    FROM resources
),
capacity_fields AS (
    SELECT snapshot_at, pkey, unnest([
        {'k': 'capacity.' || state || '.' || flavor || '.count', 'v': to_json(count)},
        {'k': 'capacity.' || state || '.' || flavor || '.max_count', 'v': to_json(max_count)}
    ]) AS e
    FROM capacity
),
kid_fields AS (
    SELECT snapshot_at, pkey, k, v FROM labels
    UNION ALL
    SELECT snapshot_at, pkey, k, v FROM annotations
    UNION ALL
    SELECT snapshot_at, pkey, e.k, e.v FROM scope_fields
    UNION ALL
    SELECT snapshot_at, pkey, e.k, e.v FROM resource_fields
    UNION ALL
    SELECT snapshot_at, pkey, k, v FROM resource_azs
    UNION ALL
    SELECT snapshot_at, pkey, e.k, e.v FROM capacity_fields
    UNION ALL
    SELECT snapshot_at, pkey, k, v FROM capacity_azs
    UNION ALL
    SELECT snapshot_at, pkey, k, v FROM job_flavors
)
SELECT snapshot_at, pkey, e.k AS k, e.v AS v FROM pool_fields
UNION ALL
SELECT snapshot_at, pkey, k, v FROM kid_fields WHERE v IS NOT NULL
