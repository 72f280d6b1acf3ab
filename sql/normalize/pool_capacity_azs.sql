-- Table pool_capacity_azs: provisioned nodes of a pool per node state, flavor and AZ
-- (status.resources.<state>[].azs[]). Both shapes of status.resources.<state> are read, as in pool_capacity.
--
-- column       type         meaning (source path)
-- snapshot_id  VARCHAR      snapshot (run)
-- snapshot_at  TIMESTAMPTZ  snapshot time, UTC (run)
-- region       VARCHAR      region (run)
-- project_id   VARCHAR      IAM project id (run)
-- pool_id      VARCHAR      pool id (metadata.name)
-- state        VARCHAR      creating | available | abnormal | deleting (the key under status.resources)
-- flavor       VARCHAR      resource flavor (status.resources.<state>[].flavor)
-- az           VARCHAR      availability zone (status.resources.<state>[].azs[].az)
-- count        INTEGER      nodes in that state, flavor and AZ (status.resources.<state>[].azs[].count),
--                           0..2147483647, never NULL: absent reads as 0; a document with any other value is
--                           rejected whole
-- node_pool    VARCHAR      node pool of the flavor entry, SDK only (status.resources.<state>[].nodePool)
-- AZ entries that are not objects, or have neither az nor count, are skipped.
WITH s AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id,
           unnest([
               {'state': 'creating', 'j': p.status.resources.creating},
               {'state': 'available', 'j': p.status.resources.available},
               {'state': 'abnormal', 'j': p.status.resources.abnormal},
               {'state': 'deleting', 'j': p.status.resources.deleting}
           ]) AS s
    FROM docs
    WHERE coalesce(p.status.resources.creating, p.status.resources.available,
                   p.status.resources.abnormal, p.status.resources.deleting) IS NOT NULL
),
e AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id, s.state AS state,
           unnest(CASE left(s.j, 1)
               WHEN '[' THEN from_json(s.j, '[{"flavor": "VARCHAR", "nodePool": "VARCHAR",
                                                   "azs": [{"az": "VARCHAR", "count": "VARCHAR"}]}]')
               WHEN '{' THEN [from_json(s.j, '{"flavor": "VARCHAR", "nodePool": "VARCHAR",
                                                    "azs": [{"az": "VARCHAR", "count": "VARCHAR"}]}')]
           END) AS e
    FROM s
    WHERE s.j IS NOT NULL
),
z AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id, state,
           e.flavor AS flavor, e.nodePool AS node_pool, unnest(e.azs) AS z
    FROM e
    WHERE len(e.azs) > 0
)
SELECT snapshot_id, snapshot_at, region, project_id, pool_id,
       state,
       flavor,
       z.az AS az,
       pool_count(z.count) AS count,
       node_pool
FROM z
WHERE z.az IS NOT NULL OR z.count IS NOT NULL
