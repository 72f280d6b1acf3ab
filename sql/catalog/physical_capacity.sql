-- Table physical_capacity: pool_capacity without the Logical sub-pools, whose nodes are carved out of their
-- parent's and are already counted there. Summing `count` here is always safe (nodes per state, flavor,
-- project, region); summing pool_capacity over every pool counts a sub-pool's nodes twice.
--
-- column       type         meaning
-- snapshot_id  VARCHAR      snapshot (run)
-- snapshot_at  TIMESTAMPTZ  snapshot time, UTC (run)
-- region       VARCHAR      region (run)
-- project_id   VARCHAR      IAM project id (run)
-- pool_id      VARCHAR      physical pool id (metadata.name)
-- state        VARCHAR      creating | available | abnormal | deleting
-- flavor       VARCHAR      resource flavor
-- count        INTEGER      nodes in that state
-- max_count    INTEGER      elastic maximum
-- node_pool    VARCHAR      node pool of the entry (SDK only)
SELECT c.snapshot_id, c.snapshot_at, c.region, c.project_id, c.pool_id, c.state, c.flavor, c.count, c.max_count,
       c.node_pool
FROM pool_capacity AS c
SEMI JOIN (SELECT snapshot_id, region, project_id, pool_id FROM pools WHERE is_physical) AS p
    USING (snapshot_id, region, project_id, pool_id)
