-- Check no_duplicate_keys: the key of every table is unique within the snapshot (a flavor may appear once per
-- node pool in pool_capacity). A label or annotation key sent twice in one JSON object is kept as sent and
-- shows up here. Returns each duplicated key.
--
-- column   type     meaning
-- tbl      VARCHAR  the table
-- key      VARCHAR  the duplicated key, as text
-- n        BIGINT   how many rows share it
SELECT 'pools' AS tbl, concat_ws('/', project_id, pool_id) AS key, count(*) AS n
FROM pools GROUP BY ALL HAVING count(*) > 1
UNION ALL
SELECT 'pool_labels', concat_ws('/', project_id, pool_id, key), count(*)
FROM pool_labels GROUP BY ALL HAVING count(*) > 1
UNION ALL
SELECT 'pool_annotations', concat_ws('/', project_id, pool_id, key), count(*)
FROM pool_annotations GROUP BY ALL HAVING count(*) > 1
UNION ALL
SELECT 'pool_scopes', concat_ws('/', project_id, pool_id, scope_type), count(*)
FROM pool_scopes GROUP BY ALL HAVING count(*) > 1
UNION ALL
SELECT 'pool_capacity', concat_ws('/', project_id, pool_id, state, flavor, node_pool), count(*)
FROM pool_capacity GROUP BY ALL HAVING count(*) > 1
UNION ALL
SELECT 'pool_capacity_azs', concat_ws('/', project_id, pool_id, state, flavor, node_pool, az), count(*)
FROM pool_capacity_azs GROUP BY ALL HAVING count(*) > 1
UNION ALL
SELECT 'flavors', concat_ws('/', region, project_id, flavor), count(*)
FROM flavors GROUP BY ALL HAVING count(*) > 1
UNION ALL
SELECT 'pool_job_flavors', concat_ws('/', project_id, pool_id, job_flavor), count(*)
FROM pool_job_flavors GROUP BY ALL HAVING count(*) > 1
UNION ALL
SELECT 'fetches', call_id, count(*)
FROM fetches GROUP BY ALL HAVING count(*) > 1
