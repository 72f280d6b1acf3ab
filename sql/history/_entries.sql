-- Non-table step 10: the content of each candidate version start as a field map, one row per field.
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
--   kv           VARCHAR      the field as a JSON object member: "<k>":<value> (value null for a NULL pools
--                             column); content is '{' || these, sorted, joined by ',' || '}'
--   pool_field   BOOLEAN      true for a pools column (those are compared row to row in _diffs.sql)
WITH s AS (
    SELECT snapshot_at, pkey FROM _h_steps WHERE is_start
),
pool_fields AS (
    SELECT snapshot_at, pkey, unnest(h_pool_fields(r)) AS e
    FROM _h_rows AS r
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
SELECT snapshot_at, pkey, e.k AS k, to_json(e.k)::VARCHAR || ':' || coalesce(e.v::VARCHAR, 'null') AS kv,
       true AS pool_field
FROM pool_fields
UNION ALL
SELECT snapshot_at, pkey, k, to_json(k)::VARCHAR || ':' || v::VARCHAR AS kv, false AS pool_field
FROM kid_fields
WHERE v IS NOT NULL
