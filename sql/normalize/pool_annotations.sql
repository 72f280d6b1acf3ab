-- Table pool_annotations: one row per pool per annotation key, every key, known or not (metadata.annotations).
--
-- column       type         meaning (source path)
-- snapshot_id  VARCHAR      snapshot (run)
-- snapshot_at  TIMESTAMPTZ  snapshot time, UTC (run)
-- region       VARCHAR      region (run)
-- project_id   VARCHAR      IAM project id (run)
-- pool_id      VARCHAR      pool id (metadata.name)
-- key          VARCHAR      annotation key exactly as sent, e.g. os.modelarts/billing.mode (metadata.annotations key)
-- value        VARCHAR      annotation value: a JSON string as its text; any other JSON value (number, object, ...)
--                           as its JSON text; JSON null as NULL (metadata.annotations value)
-- metadata.annotations that is not a JSON object gives no rows. A key sent twice in one object (which the API, building
-- these from maps, never does) is kept as sent: two rows, and the pools table reads the first value. Like a
-- negative count, it is left for the checks to flag (no_duplicate_keys) rather than silently dropped; removing
-- it here would cost a per-row duplicate test (about a third more time for this table).
-- json_keys and the '$.*' wildcard walk the object in the same order, so keys[i] goes with values[i]; this
-- is about 4x faster than from_json(..., MAP) and 10x faster than a lateral json_each.
WITH kv AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id,
           json_keys(p.metadata.annotations) AS keys,
           json_extract_string(p.metadata.annotations, '$.*') AS vals
    FROM docs
    WHERE p.metadata.annotations IS NOT NULL
)
SELECT snapshot_id, snapshot_at, region, project_id, pool_id,
       unnest(keys) AS key,
       unnest(vals) AS value
FROM kv
