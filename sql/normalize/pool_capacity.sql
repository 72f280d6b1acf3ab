-- Table pool_capacity: provisioned nodes of a pool per node state and flavor (status.resources).
-- The API counts nodes, not jobs: this is capacity, never usage.
-- status.resources.<state> is an ARRAY of PoolResourceFlavorCount in the docs and ONE such object in the SDK
-- (reference §3, §9): both shapes are read (json_type decides); anything else under a state gives no rows.
--
-- column       type         meaning (source path)
-- snapshot_id  VARCHAR      snapshot (run)
-- snapshot_at  TIMESTAMPTZ  snapshot time, UTC (run)
-- region       VARCHAR      region (run)
-- project_id   VARCHAR      IAM project id (run)
-- pool_id      VARCHAR      pool id (metadata.name)
-- state        VARCHAR      creating | available | abnormal | deleting (the key under status.resources)
-- flavor       VARCHAR      resource flavor (status.resources.<state>[].flavor)
-- count        INTEGER      nodes in that state (status.resources.<state>[].count), 0..2147483647, never NULL:
--                           absent reads as 0; "3" reads as 3; a document with any other value is rejected whole
-- max_count    INTEGER      elastic maximum (status.resources.<state>[].maxCount), same range, never NULL: absent
--                           reads as count (maxCount equals count in a physical pool, where the service omits it)
-- node_pool    VARCHAR      node pool of the entry, SDK only (status.resources.<state>[].nodePool); a flavor can
--                           appear once per node pool
-- Entries that are not objects, or have none of flavor/count/maxCount/azs/nodePool, are skipped.
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
               WHEN '[' THEN from_json(s.j, '[{"flavor": "VARCHAR", "count": "VARCHAR", "maxCount": "VARCHAR",
                                                   "nodePool": "VARCHAR", "azs": "JSON"}]')
               WHEN '{' THEN [from_json(s.j, '{"flavor": "VARCHAR", "count": "VARCHAR", "maxCount": "VARCHAR",
                                                    "nodePool": "VARCHAR", "azs": "JSON"}')]
           END) AS e
    FROM s
    WHERE s.j IS NOT NULL
)
SELECT snapshot_id, snapshot_at, region, project_id, pool_id,
       state,
       e.flavor AS flavor,
       pool_count(e.count) AS count,
       coalesce(pool_int(e.maxCount), pool_count(e.count)) AS max_count,
       e.nodePool AS node_pool
FROM e
WHERE e.flavor IS NOT NULL OR e.count IS NOT NULL OR e.maxCount IS NOT NULL OR e.azs IS NOT NULL
   OR e.nodePool IS NOT NULL
