-- Table pool_change_fields: pool_changes with one row per changed field, so that a changed value is read by
-- filtering on `field`, never through a JSON path: field paths hold raw label keys, flavors and AZs, dots and all,
-- so before->>'$.capacity.available.modelarts.vm.gpu.t4.count' reads a path that does not exist and silently
-- returns NULL. The values are looked up by exact key (a JSON object read as a MAP), so a key holding dots,
-- quotes, brackets, backslashes or nothing at all reads the same as any other. A created pool has a row for every
-- field of its content with only the after side, a deleted one a row for every field of its last content with
-- only the before side: "what did it have" is answered the same way as "what changed".
--
-- column                type         meaning
-- snapshot_id           VARCHAR      as in pool_changes: snapshot in which the change was observed
-- snapshot_at           TIMESTAMPTZ  its time, UTC
-- region                VARCHAR      region of the project
-- project_id            VARCHAR      IAM project id
-- pool_id               VARCHAR      pool id (metadata.name)
-- display_name          VARCHAR      as in pool_changes: the pool's console name at this change (deleted: the
--                                    last one observed)
-- change_type           VARCHAR      created | updated | deleted, as in pool_changes
-- field                 VARCHAR      the field path, one of the change's changed_fields, e.g. phase,
--                                    labels.<key>, capacity.available.<flavor>.count (paths: pool_versions.content)
-- before_value          JSON         the value before; NULL when the field was absent or null, and for created
-- after_value           JSON         the value after; NULL when the field is now absent or null, and for deleted
-- before_text           VARCHAR      before_value as text: a string unquoted, a number or boolean as written, a
--                                    list (job_flavors) as its JSON text
-- after_text            VARCHAR      after_value as text, likewise
-- before_number         DOUBLE       before_value when it is a JSON number (counts), else NULL: a label or
--                                    annotation value such as "8" stays text (TRY_CAST(before_text AS DOUBLE)
--                                    reads it)
-- after_number          DOUBLE       after_value when it is a JSON number, else NULL
-- previous_snapshot_id  VARCHAR      as in pool_changes: the observation compared against (NULL for a first
--                                    creation)
WITH whole AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id, display_name, change_type, previous_snapshot_id,
           unnest(map_entries(coalesce(after, before)::MAP(VARCHAR, JSON))) AS e
    FROM pool_changes
    WHERE change_type IN ('created', 'deleted')
),
upd AS (
    -- before and after hold the same keys: changed_fields.
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id, display_name, change_type, previous_snapshot_id,
           before::MAP(VARCHAR, JSON) AS b, after::MAP(VARCHAR, JSON) AS a,
           unnest(changed_fields) AS field
    FROM pool_changes
    WHERE change_type = 'updated'
),
fields AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id, display_name, change_type, e.key AS field,
           CASE WHEN change_type = 'deleted' THEN e.value END AS before_value,
           CASE WHEN change_type = 'created' THEN e.value END AS after_value,
           previous_snapshot_id
    FROM whole
    UNION ALL
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id, display_name, change_type, field,
           b[field], a[field], previous_snapshot_id
    FROM upd
)
SELECT snapshot_id, snapshot_at, region, project_id, pool_id, display_name, change_type, field,
       before_value, after_value,
       before_value ->> '$' AS before_text,
       after_value ->> '$' AS after_text,
       CASE WHEN json_type(before_value) IN ('UBIGINT', 'BIGINT', 'DOUBLE') THEN before_value::DOUBLE END
           AS before_number,
       CASE WHEN json_type(after_value) IN ('UBIGINT', 'BIGINT', 'DOUBLE') THEN after_value::DOUBLE END
           AS after_number,
       previous_snapshot_id
FROM fields
