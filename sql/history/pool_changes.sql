-- Table pool_changes: one row per change of a pool between two consecutive observations of it: created,
-- updated (which fields, before -> after) or deleted. Derived from every snapshot in the catalog.
-- A pool is observed in a snapshot when it is in `pools` (present), or when a show_pool fetch for it answered
-- HTTP 404 ModelArts.50015001 (absent). Deletions are confirmed, never inferred: a pool that a successful listing
-- without label_selector and status_filter (a workspace_id filter: that workspace's pools) did not return is
-- asked for with ShowPool in the same snapshot (a show_pool fetch row with its pool_id): 404 ModelArts.50015001
-- confirms the deletion; a 200 shows the listing was incomplete (the pool is present from that answer, and the
-- listing's fetch row has reason incomplete_listing); any other answer leaves it unobserved. A failed, filtered
-- or partly unreadable listing observes nothing: its pools are unobserved, never deleted, and their next observation
-- is compared with the last one before. Content and field paths: see pool_versions.content.
--
-- column                type         meaning
-- snapshot_id           VARCHAR      snapshot in which the change was observed
-- snapshot_at           TIMESTAMPTZ  its time, UTC
-- region                VARCHAR      region of the project
-- project_id            VARCHAR      IAM project id
-- pool_id               VARCHAR      pool id (metadata.name)
-- display_name          VARCHAR      the pool's name shown in the console at this change, as in pools (created,
--                                    updated: the one observed here; deleted: the last one observed), so a
--                                    report needs no join to name the pool
-- change_type           VARCHAR      created (first seen, or seen again after a deletion) | updated (content
--                                    differs from the previous observation) | deleted (observed absent; emitted
--                                    once, at the first snapshot that saw it gone)
-- changed_fields        VARCHAR[]    field paths that changed, sorted, e.g. phase, labels.<key>,
--                                    capacity.available.<flavor>.count; for created and deleted every field path
--                                    of the content
-- before                JSON         updated: {field path: value before} for the changed fields only, keys sorted
--                                    (null when the field was absent); created: NULL; deleted: the whole last content
-- after                 JSON         updated: {field path: value after} for the changed fields only (null when
--                                    the field is now absent); created: the whole content; deleted: NULL
-- previous_snapshot_id  VARCHAR      the pool's previous observation, the one compared against: the last presence
--                                    for updated and deleted, the latest snapshot that saw it absent for a
--                                    re-creation, NULL for a first creation
WITH again AS (
    -- A re-creation is compared with the latest snapshot that saw the pool absent (the deletion, or later).
    SELECT s.pkey, s.snapshot_at, g.snapshot_at AS absent_at, g.snapshot_id AS absent_id
    FROM (SELECT * FROM _h_starts WHERE prev_gone_at IS NOT NULL) AS s
    ASOF LEFT JOIN _h_show_gone AS g
           ON g.pkey = s.pkey AND s.snapshot_at > g.snapshot_at
),
changes AS (
    SELECT s.snapshot_id, s.snapshot_at, s.region, s.project_id, s.pool_id, n.display_name, s.change_type,
           s.changed_fields, s.before, s.after,
           CASE WHEN s.change_type = 'updated' THEN s.prev_id
                WHEN s.prev_gone_at IS NOT NULL THEN
                    CASE WHEN r.absent_at >= s.prev_gone_at THEN r.absent_id ELSE s.prev_gone_id END
           END AS previous_snapshot_id
    FROM _h_starts AS s
    JOIN _h_rows AS n ON n.pkey = s.pkey AND n.snapshot_at = s.snapshot_at
    LEFT JOIN again AS r ON r.pkey = s.pkey AND r.snapshot_at = s.snapshot_at
    UNION ALL
    -- The version's first row holds its display_name: a rename would have started a new version.
    SELECT v.deleted_snapshot_id, v.valid_to, v.region, v.project_id, v.pool_id, n.display_name, 'deleted',
           list_sort(json_keys(v.content)), v.content, NULL::JSON,
           v.last_snapshot_id
    FROM _h_versions AS v
    JOIN _h_rows AS n ON n.pkey = v.pkey AND n.snapshot_at = v.valid_from
    WHERE v.ended_by = 'deleted'
)
SELECT snapshot_id, snapshot_at, region, project_id, pool_id, display_name, change_type, changed_fields, before,
       after, previous_snapshot_id
FROM changes
ORDER BY snapshot_at, region, project_id, pool_id
