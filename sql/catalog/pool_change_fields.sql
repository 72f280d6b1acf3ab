-- Table pool_change_fields: pool_changes with one row per changed field, so that a changed value is read by
-- filtering on `field`, never through a JSON path: field paths hold raw label keys, flavors and AZs, dots and all,
-- so before->>'$.capacity.available.modelarts.vm.gpu.t4.count' reads a path that does not exist and silently
-- returns NULL. The values are read member by member (json_each), never through a path, so a key holding dots,
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
WITH b AS (
    SELECT c.snapshot_id, c.snapshot_at, c.region, c.project_id, c.pool_id, c.display_name, c.change_type,
           c.previous_snapshot_id, j.key AS field,
           CASE WHEN j.type <> 'NULL' THEN j.value END AS v  -- absent and null are the same (pool_versions)
    FROM pool_changes AS c, json_each(c.before) AS j
    WHERE c.change_type IN ('updated', 'deleted')
),
a AS (
    SELECT c.snapshot_id, c.snapshot_at, c.region, c.project_id, c.pool_id, c.display_name, c.change_type,
           c.previous_snapshot_id, j.key AS field,
           CASE WHEN j.type <> 'NULL' THEN j.value END AS v
    FROM pool_changes AS c, json_each(c.after) AS j
    WHERE c.change_type IN ('updated', 'created')
),
fields AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id, display_name, change_type, field,
           NULL::JSON AS before_value, v AS after_value, previous_snapshot_id
    FROM a
    WHERE change_type = 'created'
    UNION ALL
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id, display_name, change_type, field,
           v, NULL::JSON, previous_snapshot_id
    FROM b
    WHERE change_type = 'deleted'
    UNION ALL
    -- An update's before and after hold the same keys, its changed_fields; a pool changes once per snapshot.
    SELECT b.snapshot_id, b.snapshot_at, b.region, b.project_id, b.pool_id, b.display_name, b.change_type, b.field,
           b.v, a.v, b.previous_snapshot_id
    FROM b
    JOIN a USING (snapshot_id, region, project_id, pool_id, field)
    WHERE b.change_type = 'updated' AND a.change_type = 'updated'
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
