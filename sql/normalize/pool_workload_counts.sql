-- Table pool_workload_counts: running and queued workloads per pool and workload type, from
-- ShowPoolRuntimeMetrics (table.workload: allocated = workloads holding resources, queue = waiting for them:
-- the pressure signal). One row per snapshot x pool x type the answer names (train, infer, notebook,
-- warmUpTask, x-infer, ...); the service's own `sum` is left out (it is the sum of the rows). A count that is
-- not a non-negative integer gives NULL.
--
-- column         type         meaning (source path in the PoolMetrics item)
-- snapshot_id    VARCHAR      snapshot, sortable UTC text like 20261128T060000Z (run)
-- snapshot_at    TIMESTAMPTZ  snapshot time, UTC (run)
-- region         VARCHAR      region of the project (run)
-- project_id     VARCHAR      IAM project id (run)
-- pool_id        VARCHAR      pool id (metadata.name)
-- workload_type  VARCHAR      train | infer | notebook | warmUpTask | x-infer | ... as given
-- running        INTEGER      workloads holding resources (table.workload.allocated.<type>)
-- queued         INTEGER      workloads waiting for resources (table.workload.queue.<type>)
WITH pools AS (
    -- the items of _prepare_runtime_pages.sql that have a workload object
    SELECT region, project_id, pool_id, json_extract(t, '$.workload') AS w
    FROM runtime_items
    WHERE json_type(t, '$.workload') = 'OBJECT'
),
entries AS (
    SELECT p.region, p.project_id, p.pool_id, 'running' AS side, e.key AS workload_type, e.value ->> '$' AS n
    FROM pools AS p, json_each(json_extract(p.w, '$.allocated')) AS e
    WHERE json_type(p.w, '$.allocated') = 'OBJECT'
    UNION ALL
    SELECT p.region, p.project_id, p.pool_id, 'queued', e.key, e.value ->> '$'
    FROM pools AS p, json_each(json_extract(p.w, '$.queue')) AS e
    WHERE json_type(p.w, '$.queue') = 'OBJECT'
)
SELECT
    $snapshot_id::VARCHAR AS snapshot_id,
    $snapshot_at::TIMESTAMPTZ AS snapshot_at,
    region,
    project_id,
    pool_id,
    workload_type,
    CASE WHEN regexp_full_match(any_value(n) FILTER (WHERE side = 'running'), '[0-9]{1,9}')
         THEN any_value(n) FILTER (WHERE side = 'running')::INTEGER END AS running,
    CASE WHEN regexp_full_match(any_value(n) FILTER (WHERE side = 'queued'), '[0-9]{1,9}')
         THEN any_value(n) FILTER (WHERE side = 'queued')::INTEGER END AS queued
FROM entries
WHERE workload_type <> 'sum'
GROUP BY ALL
ORDER BY region, project_id, pool_id, workload_type
