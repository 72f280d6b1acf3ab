-- Table pool_scopes: one row per pool per job scope type that is requested (spec.scope) or reported
-- (status.scope), or both: the union of the two sides.
--
-- column       type         meaning (source path)
-- snapshot_id  VARCHAR      snapshot (run)
-- snapshot_at  TIMESTAMPTZ  snapshot time, UTC (run)
-- region       VARCHAR      region (run)
-- project_id   VARCHAR      IAM project id (run)
-- pool_id      VARCHAR      pool id (metadata.name)
-- scope_type   VARCHAR      Train | Infer | Notebook, open enum (spec.scope[] / status.scope[].scopeType)
-- requested    BOOLEAN      true when scope_type is listed in spec.scope
-- state        VARCHAR      Enabling | Enabled | Disabling | Disabled | EnableFailed, open enum
--                           (status.scope[].state); NULL when the scope is not in status.scope. When status.scope
--                           lists a type twice, the first entry's state is taken.
-- Null or empty scope types are skipped.
WITH d AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id,
           list_filter(p.spec.scope, lambda s: s IS NOT NULL AND s <> '') AS req,
           list_filter(p.status.scope, lambda s: s.scopeType IS NOT NULL AND s.scopeType <> '') AS st
    FROM docs
    WHERE len(p.spec.scope) > 0 OR len(p.status.scope) > 0
),
u AS (
    SELECT *, unnest(list_distinct(list_concat(req, list_transform(st, lambda s: s.scopeType)))) AS scope_type
    FROM d
)
SELECT snapshot_id, snapshot_at, region, project_id, pool_id,
       scope_type,
       coalesce(list_contains(req, scope_type), false) AS requested,
       list_filter(st, lambda s: s.scopeType = scope_type)[1].state AS state
FROM u
