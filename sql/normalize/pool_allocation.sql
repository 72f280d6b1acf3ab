-- Table pool_allocation: what each pool's resources are used for, from ShowPoolRuntimeMetrics (GET
-- /v2/{project_id}/metrics/runtime/pools, one call per project whose pool listing succeeded; collect.runtime_metrics).
-- One row per snapshot x pool x resource key (cpu, memory, and every accelerator key the service names, e.g.
-- nvidia.com/gpu, huawei.com/ascend-1980): capacity, allocated and available, as Kubernetes quantities
-- normalized to cores, bytes or cards, the text as given kept beside them. allocated is what running workloads
-- hold (requests), not measured use. An answer that is not valid JSON is skipped here (its bytes stay in the raw
-- landing, its call in fetches); a quantity that is not one gives NULL with its raw text kept.
--
-- column         type         meaning (source path in the PoolMetrics item)
-- snapshot_id    VARCHAR      snapshot, sortable UTC text like 20261128T060000Z (run)
-- snapshot_at    TIMESTAMPTZ  snapshot time, UTC (run)
-- region         VARCHAR      region of the project (run)
-- project_id     VARCHAR      IAM project id (run)
-- pool_id        VARCHAR      pool id (metadata.name)
-- resource       VARCHAR      resource key as given: cpu, memory, nvidia.com/gpu, huawei.com/ascend-1980, ...
-- unit           VARCHAR      cores (cpu) | bytes (memory) | cards (every other key)
-- capacity       DOUBLE       what the pool offers, in unit (table.capacity.value.<key>)
-- allocated      DOUBLE       held by workloads, in unit (table.allocated.value.<key>)
-- available      DOUBLE       free, in unit (table.available.value.<key>)
-- capacity_raw   VARCHAR      the quantity as given, e.g. 5, "1073m", "15548Mi"
-- allocated_raw  VARCHAR      as capacity_raw
-- available_raw  VARCHAR      as capacity_raw
-- measured_at    TIMESTAMPTZ  when the service measured it (table.capacity.timestamp)
-- window         VARCHAR      its averaging window: 1s | 1m | 1h (table.capacity.window)
WITH pools AS (
    SELECT region, project_id, pool_id, t FROM runtime_items  -- _prepare_runtime_pages.sql
),
-- every member of the three value maps, read by key (keys hold dots and slashes: no JSON paths)
entries AS (
    SELECT p.region, p.project_id, p.pool_id, 'capacity' AS side, e.key AS resource,
           CASE WHEN e.type = 'VARCHAR' THEN e.value ->> '$' ELSE e.value::VARCHAR END AS raw
    FROM pools AS p, json_each(json_extract(p.t, '$.capacity.value')) AS e
    WHERE json_type(p.t, '$.capacity.value') = 'OBJECT'
    UNION ALL
    SELECT p.region, p.project_id, p.pool_id, 'allocated', e.key,
           CASE WHEN e.type = 'VARCHAR' THEN e.value ->> '$' ELSE e.value::VARCHAR END
    FROM pools AS p, json_each(json_extract(p.t, '$.allocated.value')) AS e
    WHERE json_type(p.t, '$.allocated.value') = 'OBJECT'
    UNION ALL
    SELECT p.region, p.project_id, p.pool_id, 'available', e.key,
           CASE WHEN e.type = 'VARCHAR' THEN e.value ->> '$' ELSE e.value::VARCHAR END
    FROM pools AS p, json_each(json_extract(p.t, '$.available.value')) AS e
    WHERE json_type(p.t, '$.available.value') = 'OBJECT'
),
wide AS (
    SELECT region, project_id, pool_id, resource,
           any_value(raw) FILTER (WHERE side = 'capacity') AS capacity_raw,
           any_value(raw) FILTER (WHERE side = 'allocated') AS allocated_raw,
           any_value(raw) FILTER (WHERE side = 'available') AS available_raw
    FROM entries
    GROUP BY ALL
)
SELECT
    $snapshot_id::VARCHAR AS snapshot_id,
    $snapshot_at::TIMESTAMPTZ AS snapshot_at,
    w.region,
    w.project_id,
    w.pool_id,
    w.resource,
    CASE w.resource WHEN 'cpu' THEN 'cores' WHEN 'memory' THEN 'bytes' ELSE 'cards' END AS unit,
    k8s_quantity(w.capacity_raw) AS capacity,
    k8s_quantity(w.allocated_raw) AS allocated,
    k8s_quantity(w.available_raw) AS available,
    w.capacity_raw,
    w.allocated_raw,
    w.available_raw,
    TRY_CAST(p.t ->> '$.capacity.timestamp' AS TIMESTAMPTZ) AS measured_at,
    p.t ->> '$.capacity.window' AS window
FROM wide AS w
JOIN pools AS p USING (region, project_id, pool_id)
ORDER BY w.region, w.project_id, w.pool_id, w.resource
