-- Table pool_resources: one row per entry of spec.resources[] (the requested flavors of a pool).
--
-- column       type         meaning (source path)
-- snapshot_id  VARCHAR      snapshot (run)
-- snapshot_at  TIMESTAMPTZ  snapshot time, UTC (run)
-- region       VARCHAR      region (run)
-- project_id   VARCHAR      IAM project id (run)
-- pool_id      VARCHAR      pool id (metadata.name)
-- flavor       VARCHAR      resource flavor, e.g. modelarts.vm.gpu.tnt004 (spec.resources[].flavor)
-- count        INTEGER      requested node count (spec.resources[].count), 0..2147483647, never NULL: absent (or
--                           JSON null) reads as 0 (see pool_count in _macros.sql); "3" reads as 3. A document with
--                           any other value (NaN, 2.5, "abc", -1, ...) is rejected whole (rejected_documents)
-- max_count    INTEGER      elastic maximum (spec.resources[].maxCount), same range, never NULL: absent reads as
--                           count (the docs and the SDK: maxCount equals count in a physical pool, and the doc
--                           examples leave it out there)
-- Entries that are not objects, or objects with none of flavor/count/maxCount/azs, are skipped.
WITH e AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id, unnest(p.spec.resources) AS r
    FROM docs
    WHERE len(p.spec.resources) > 0
)
SELECT snapshot_id, snapshot_at, region, project_id, pool_id,
       r.flavor AS flavor,
       pool_count(r.count) AS count,
       coalesce(pool_int(r.maxCount), pool_count(r.count)) AS max_count
FROM e
WHERE r.flavor IS NOT NULL OR r.count IS NOT NULL OR r.maxCount IS NOT NULL OR r.azs IS NOT NULL
