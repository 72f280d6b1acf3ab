-- Table projects: the IAM projects of the account, with the names people know them by (a project id is 32 hex
-- characters; its name is the region, e.g. cn-north-4, or region_suffix for a sub-project, e.g.
-- cn-north-4_nlp-team). One row per project per snapshot, from every IAM GET /v3/projects answer of the
-- snapshot: the discovery calls (fetches.call list_projects) and the name lookups made once per region of the
-- configured targets (fetches.call project_names; fetch.project_names: false turns them off). An answer that
-- is not valid JSON is skipped here (its bytes stay in the raw landing, its call in fetches). When IAM cannot
-- be read (a credential without iam:projects:listProjects), this table has no rows for the snapshot and the
-- reports show ids without names.
--
-- column       type         meaning (source path in the IAM project object)
-- snapshot_id  VARCHAR      snapshot, sortable UTC text like 20261128T060000Z (run)
-- snapshot_at  TIMESTAMPTZ  snapshot time, UTC (run)
-- region       VARCHAR      the region the project belongs to: its name up to the first "_" when that is a
--                           region id, else the region whose IAM endpoint listed it (run)
-- project_id   VARCHAR      IAM project id (id)
-- name         VARCHAR      project name (name)
-- enabled      BOOLEAN      the project is enabled (enabled)
-- is_default   BOOLEAN      the region's own project (its name is the region id), not a sub-project
-- parent_id    VARCHAR      parent: the account (domain) for a region's project, the region's project for a
--                           sub-project (parent_id)
-- domain_id    VARCHAR      account (domain) id (domain_id)
-- description  VARCHAR      description (description)
WITH docs AS (
    SELECT region AS queried, page AS call_order,
           unnest(from_json(json_extract(content, '$.projects'), '["JSON"]')) AS doc
    FROM project_pages
    WHERE json_valid(content) AND json_type(content, '$.projects') = 'ARRAY'
), fields AS (
    SELECT queried, call_order,
           doc ->> '$.id' AS project_id,
           doc ->> '$.name' AS name,
           TRY_CAST(doc ->> '$.enabled' AS BOOLEAN) AS enabled,
           doc ->> '$.parent_id' AS parent_id,
           doc ->> '$.domain_id' AS domain_id,
           doc ->> '$.description' AS description,
           nullif(regexp_extract(doc ->> '$.name', '^([a-z]{2,}(-[a-z0-9]+)+)(_|$)', 1), '') AS name_region
    FROM docs
    WHERE json_type(doc) = 'OBJECT'
)
SELECT
    $snapshot_id::VARCHAR AS snapshot_id,
    $snapshot_at::TIMESTAMPTZ AS snapshot_at,
    coalesce(name_region, queried) AS region,
    project_id,
    name,
    enabled,
    name IS NOT DISTINCT FROM name_region AS is_default,
    parent_id,
    domain_id,
    description
FROM fields
WHERE project_id IS NOT NULL AND project_id <> ''
-- IAM lists every project of the account from each region's endpoint: one row per project
QUALIFY row_number() OVER (PARTITION BY project_id ORDER BY call_order) = 1
ORDER BY region, name, project_id
