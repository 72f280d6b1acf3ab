-- Table pool_scopes: one row per pool per job scope type that is requested (spec.scope), reported
-- (status.scope), or named by a scope dependency annotation, or any of these: the union of the three sides.
--
-- column                  type         meaning (source path)
-- snapshot_id             VARCHAR      snapshot (run)
-- snapshot_at             TIMESTAMPTZ  snapshot time, UTC (run)
-- region                  VARCHAR      region (run)
-- project_id              VARCHAR      IAM project id (run)
-- pool_id                 VARCHAR      pool id (metadata.name)
-- scope_type              VARCHAR      Train | Infer | Notebook, open enum (spec.scope[] / status.scope[].scopeType /
--                                      the <Scope> of an os.modelarts.pool/scope.external.dependency.<Scope>
--                                      annotation, when neither side lists it in any letter case)
-- requested               BOOLEAN      true when scope_type is listed in spec.scope
-- state                   VARCHAR      Enabling | Enabled | Disabling | Disabled | EnableFailed, open enum
--                                      (status.scope[].state); NULL when the scope is not in status.scope. When
--                                      status.scope lists a type twice, the first entry's state is taken.
-- dependency_raw          VARCHAR      the scope's external dependency annotation as given, JSON text such as
--                                      {"type":"Enabled","status":"True","message":"","network_access":{...}}
--                                      (metadata.annotations."os.modelarts.pool/scope.external.dependency.<Scope>";
--                                      the docs spell <Scope> Train/Infer/Notebook, the SDK knows only "train": the
--                                      key is matched to scope_type in any letter case, an exact match first);
--                                      NULL when the pool has no such annotation for the scope
-- dependency_readable     BOOLEAN      true when dependency_raw is a JSON object (the columns below are read from
--                                      it); false when it is not (kept raw only, and a warning row in
--                                      rejected_documents); NULL without an annotation
-- dependency_type         VARCHAR      the dependency's type, e.g. Enabled (dependency_raw $.type)
-- dependency_status       VARCHAR      its status as given, e.g. "True" (dependency_raw $.status)
-- dependency_message      VARCHAR      its message, "" when none (dependency_raw $.message)
-- network_access_type     VARCHAR      the scope's network access type, e.g. Enabled (dependency_raw
--                                      $.network_access.type)
-- network_access_status   VARCHAR      network access status as given, e.g. "True" ($.network_access.status)
-- network_access_message  VARCHAR      network access message ($.network_access.message)
-- Null or empty scope types are skipped. A field of the wrong JSON type is read as its JSON text.
WITH d AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id,
           coalesce(list_filter(p.spec.scope, lambda s: s IS NOT NULL AND s <> ''), []) AS req,
           coalesce(list_filter(p.status.scope, lambda s: s.scopeType IS NOT NULL AND s.scopeType <> ''), [])
               AS st,
           -- Only documents whose annotations mention the prefix pay for walking their keys.
           CASE WHEN contains(p.metadata.annotations::VARCHAR, 'scope.external.dependency.')
                     AND json_type(p.metadata.annotations) = 'OBJECT'
                THEN list_transform(
                         list_filter(list_zip(json_keys(p.metadata.annotations),
                                              json_extract_string(p.metadata.annotations, '$.*')),
                                     lambda kv: starts_with(kv[1], 'os.modelarts.pool/scope.external.dependency.')
                                                AND length(kv[1]) > 44),  -- 44: the prefix's length
                         lambda kv: {'scope': substr(kv[1], 45), 'raw': kv[2]})
                ELSE [] END AS deps
    FROM docs
    WHERE len(p.spec.scope) > 0 OR len(p.status.scope) > 0
       OR contains(p.metadata.annotations::VARCHAR, 'scope.external.dependency.')
),
named AS (
    SELECT *, list_distinct(list_concat(req, list_transform(st, lambda s: s.scopeType))) AS listed
    FROM d
),
u AS (
    -- A dependency's scope joins the listed ones unless one of them already matches it in any letter case.
    SELECT *,
           unnest(list_concat(listed, list_distinct(list_transform(
               list_filter(deps, lambda x: x.scope <> ''
                                         AND NOT list_contains(list_transform(listed, lambda s: lower(s)),
                                                               lower(x.scope))),
               lambda x: x.scope)))) AS scope_type
    FROM named
),
j AS (
    SELECT *,
           -- exact spelling first, then any letter case
           list_concat(list_filter(deps, lambda x: x.scope = scope_type),
                       list_filter(deps, lambda x: x.scope <> scope_type AND lower(x.scope) = lower(scope_type)))[1].raw
               AS dep
    FROM u
),
parsed AS (
    SELECT *, CASE WHEN dep IS NOT NULL THEN coalesce(CASE WHEN json_valid(dep) THEN json_type(dep) = 'OBJECT' END, false) END AS dep_ok
    FROM j
)
SELECT snapshot_id, snapshot_at, region, project_id, pool_id,
       scope_type,
       coalesce(list_contains(req, scope_type), false) AS requested,
       list_filter(st, lambda s: s.scopeType = scope_type)[1].state AS state,
       dep AS dependency_raw,
       dep_ok AS dependency_readable,
       CASE WHEN dep_ok THEN json_extract_string(dep, '$.type') END AS dependency_type,
       CASE WHEN dep_ok THEN json_extract_string(dep, '$.status') END AS dependency_status,
       CASE WHEN dep_ok THEN json_extract_string(dep, '$.message') END AS dependency_message,
       CASE WHEN dep_ok THEN json_extract_string(dep, '$.network_access.type') END AS network_access_type,
       CASE WHEN dep_ok THEN json_extract_string(dep, '$.network_access.status') END AS network_access_status,
       CASE WHEN dep_ok THEN json_extract_string(dep, '$.network_access.message') END AS network_access_message
FROM parsed
