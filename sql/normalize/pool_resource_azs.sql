-- Table pool_resource_azs: one row per entry of spec.resources[].azs[] (requested nodes per flavor and AZ).
--
-- column       type         meaning (source path)
-- snapshot_id  VARCHAR      snapshot (run)
-- snapshot_at  TIMESTAMPTZ  snapshot time, UTC (run)
-- region       VARCHAR      region (run)
-- project_id   VARCHAR      IAM project id (run)
-- pool_id      VARCHAR      pool id (metadata.name)
-- flavor       VARCHAR      resource flavor (spec.resources[].flavor)
-- az           VARCHAR      availability zone, e.g. cn-north-4a (spec.resources[].azs[].az)
-- count        INTEGER      requested nodes in that AZ (spec.resources[].azs[].count), 0..2147483647, never NULL:
--                           absent reads as 0; a document with any other value is rejected whole
-- AZ entries that are not objects, or have neither az nor count, are skipped.
WITH e AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id, unnest(p.spec.resources) AS r
    FROM docs
    WHERE len(p.spec.resources) > 0
),
a AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id, r.flavor AS flavor, unnest(r.azs) AS z
    FROM e
    WHERE len(r.azs) > 0
)
SELECT snapshot_id, snapshot_at, region, project_id, pool_id,
       flavor,
       z.az AS az,
       pool_count(z.count) AS count
FROM a
WHERE z.az IS NOT NULL OR z.count IS NOT NULL
