-- Table pool_job_flavors: one row per pool per job flavor the pool supports (spec.jobFlavors[]).
--
-- column       type         meaning (source path)
-- snapshot_id  VARCHAR      snapshot (run)
-- snapshot_at  TIMESTAMPTZ  snapshot time, UTC (run)
-- region       VARCHAR      region (run)
-- project_id   VARCHAR      IAM project id (run)
-- pool_id      VARCHAR      pool id (metadata.name)
-- job_flavor   VARCHAR      job flavor name, e.g. modelarts.pool.visual.cpu.2u8g (spec.jobFlavors[]); a
--                           non-string entry is kept as its JSON text
-- Null and empty entries are skipped; a name listed twice gives one row.
WITH e AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id,
           unnest(list_distinct(p.spec.jobFlavors)) AS job_flavor
    FROM docs
    WHERE len(p.spec.jobFlavors) > 0
)
SELECT snapshot_id, snapshot_at, region, project_id, pool_id, job_flavor
FROM e
WHERE job_flavor <> ''
