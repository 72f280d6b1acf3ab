-- Table pool_resources: one row per entry of spec.resources[] (the requested flavors of a pool).
--
-- column       type         meaning (source path)
-- snapshot_id  VARCHAR      snapshot (run)
-- snapshot_at  TIMESTAMPTZ  snapshot time, UTC (run)
-- region       VARCHAR      region (run)
-- project_id   VARCHAR      IAM project id (run)
-- pool_id      VARCHAR      pool id (metadata.name)
-- flavor       VARCHAR      resource flavor, e.g. modelarts.vm.gpu.tnt004 (spec.resources[].flavor)
-- count        INTEGER      requested node count (spec.resources[].count); NULL when absent or not an integer
--                           ("3" reads as 3, "abc" and 2.5 as NULL); a negative value is kept as is
-- max_count    INTEGER      elastic maximum, = count for physical pools (spec.resources[].maxCount), same rules
-- Entries that are not objects, or objects with none of flavor/count/maxCount/azs, are skipped.
WITH e AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id, unnest(p.spec.resources) AS r
    FROM docs
    WHERE len(p.spec.resources) > 0
)
SELECT snapshot_id, snapshot_at, region, project_id, pool_id,
       r.flavor AS flavor,
       pool_int(r.count) AS count,
       pool_int(r.maxCount) AS max_count
FROM e
WHERE r.flavor IS NOT NULL OR r.count IS NOT NULL OR r.maxCount IS NOT NULL OR r.azs IS NOT NULL
