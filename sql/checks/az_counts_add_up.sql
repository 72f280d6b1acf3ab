-- Check az_counts_add_up: where a flavor lists AZs, its per-AZ counts add up to its count, both for the
-- requested nodes (spec.resources) and for the nodes per state (status.resources). Returns the mismatches.
--
-- column      type     meaning
-- source      VARCHAR  spec (pool_resources) or status (pool_capacity)
-- project_id  VARCHAR  project of the pool
-- pool_id     VARCHAR  the pool
-- state       VARCHAR  node state (NULL for spec)
-- flavor      VARCHAR  the flavor
-- count       BIGINT   the flavor's count
-- az_total    BIGINT   sum of its per-AZ counts
WITH spec AS (
    SELECT project_id, pool_id, flavor, sum(count) AS count
    FROM pool_resources GROUP BY ALL
), spec_az AS (
    SELECT project_id, pool_id, flavor, sum(count) AS az_total
    FROM pool_resource_azs GROUP BY ALL
), status AS (
    SELECT project_id, pool_id, state, flavor, sum(count) AS count
    FROM pool_capacity GROUP BY ALL
), status_az AS (
    SELECT project_id, pool_id, state, flavor, sum(count) AS az_total
    FROM pool_capacity_azs GROUP BY ALL
)
SELECT 'spec' AS source, s.project_id, s.pool_id, NULL::VARCHAR AS state, s.flavor, s.count, a.az_total
FROM spec AS s JOIN spec_az AS a USING (project_id, pool_id, flavor)
WHERE s.count IS DISTINCT FROM a.az_total
UNION ALL
SELECT 'status', s.project_id, s.pool_id, s.state, s.flavor, s.count, a.az_total
FROM status AS s JOIN status_az AS a USING (project_id, pool_id, state, flavor)
WHERE s.count IS DISTINCT FROM a.az_total
