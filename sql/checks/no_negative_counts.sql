-- Check no_negative_counts: node counts are never negative. Returns each offending row.
--
-- column      type     meaning
-- tbl         VARCHAR  the table
-- project_id  VARCHAR  project of the pool
-- pool_id     VARCHAR  the pool
-- flavor      VARCHAR  the flavor
-- count       BIGINT   the count (or max_count) found
SELECT 'pool_resources' AS tbl, project_id, pool_id, flavor, least(count, max_count) AS count
FROM pool_resources WHERE count < 0 OR max_count < 0
UNION ALL
SELECT 'pool_resource_azs', project_id, pool_id, flavor, count FROM pool_resource_azs WHERE count < 0
UNION ALL
SELECT 'pool_capacity', project_id, pool_id, flavor, least(count, max_count)
FROM pool_capacity WHERE count < 0 OR max_count < 0
UNION ALL
SELECT 'pool_capacity_azs', project_id, pool_id, flavor, count FROM pool_capacity_azs WHERE count < 0
