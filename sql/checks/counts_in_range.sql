-- Check counts_in_range: every count column holds an integer in 0..2147483647, never NULL (normalize rejects a
-- document whose count is anything else, and reads an absent count as 0; see sql/normalize/_macros.sql
-- pool_count). Returns each offending row.
--
-- column      type     meaning
-- tbl         VARCHAR  the table
-- col         VARCHAR  the column
-- project_id  VARCHAR  project of the pool
-- pool_id     VARCHAR  the pool
-- value       BIGINT   the value found (NULL when NULL)
WITH counts AS (
    SELECT 'pool_resources' AS tbl, 'count' AS col, project_id, pool_id, count AS value FROM pool_resources
    UNION ALL
    SELECT 'pool_resources', 'max_count', project_id, pool_id, max_count FROM pool_resources
    UNION ALL
    SELECT 'pool_resource_azs', 'count', project_id, pool_id, count FROM pool_resource_azs
    UNION ALL
    SELECT 'pool_capacity', 'count', project_id, pool_id, count FROM pool_capacity
    UNION ALL
    SELECT 'pool_capacity', 'max_count', project_id, pool_id, max_count FROM pool_capacity
    UNION ALL
    SELECT 'pool_capacity_azs', 'count', project_id, pool_id, count FROM pool_capacity_azs
    UNION ALL
    SELECT 'pools', 'subpools_count', project_id, pool_id, subpools_count FROM pools
)
SELECT tbl, col, project_id, pool_id, value::BIGINT AS value
FROM counts
WHERE value IS NULL OR value < 0 OR value > 2147483647
