-- Table pool_events: what happened to each pool, from ListEvents (GET /v1/{project_id}/events?resource=pools&
-- name=<pool id>, 1+ calls per pool read by the snapshot, every page; collect.pool_events): phase changes
-- (reason PoolStatusChange, message "from Running to Abnormal") and node-count changes (reason
-- PoolResourcesStatusChange, message "available/abnormal/creating/deleting count from 1/0/0/0 to 0/1/0/0,
-- timestamp: 1672366579"), the two documented forms, parsed into columns beside the message kept as given (a
-- message of another form, or of another reason, keeps only its text: the parsed columns are NULL). In the lake one
-- row per snapshot x event listed; each snapshot asks only from the second of the latest event already stored,
-- so consecutive snapshots overlap. The catalog's pool_events view is deduplicated across snapshots: one row
-- per event, keyed by (region, project_id, pool_id, reason, first_at, message), the most advanced observation
-- of it winning (latest last_at, then largest count, then latest snapshot): an event repeated since (count and
-- last_at grown) replaces its older row. A page that is not valid JSON, or has no items list, is skipped here
-- (its bytes stay in the raw landing, its call in fetches); so is an item that is not an event: not an object, or
-- an object with neither a reason nor a message (text), e.g. another API's item answered on this path.
--
-- column          type         meaning (source path in the ListEvents item)
-- snapshot_id     VARCHAR      snapshot, sortable UTC text like 20261128T060000Z (run)
-- snapshot_at     TIMESTAMPTZ  snapshot time, UTC (run)
-- region          VARCHAR      region of the project (run)
-- project_id      VARCHAR      IAM project id (run)
-- pool_id         VARCHAR      pool id the call asked about (query name=; the item names no object)
-- type            VARCHAR      Normal | Warning, as given (type)
-- reason          VARCHAR      PoolStatusChange | PoolResourcesStatusChange | ..., as given (reason)
-- message         VARCHAR      the message as given (message)
-- count           INTEGER      how many times the event happened in a row (count; NULL if not an integer)
-- first_at        TIMESTAMPTZ  first occurrence (firstTimestamp, RFC 3339; NULL if absent or unreadable)
-- last_at         TIMESTAMPTZ  latest occurrence (lastTimestamp, RFC 3339; NULL if absent or unreadable)
-- from_status     VARCHAR      PoolStatusChange: the phase before ("from <from_status> to <to_status>")
-- to_status       VARCHAR      PoolStatusChange: the phase after
-- from_available  INTEGER      PoolResourcesStatusChange: available nodes before (the counts follow the
--                              state names the message lists, in whatever order it lists them)
-- from_abnormal   INTEGER      PoolResourcesStatusChange: abnormal nodes before
-- from_creating   INTEGER      PoolResourcesStatusChange: creating nodes before
-- from_deleting   INTEGER      PoolResourcesStatusChange: deleting nodes before
-- to_available    INTEGER      PoolResourcesStatusChange: available nodes after
-- to_abnormal     INTEGER      PoolResourcesStatusChange: abnormal nodes after
-- to_creating     INTEGER      PoolResourcesStatusChange: creating nodes after
-- to_deleting     INTEGER      PoolResourcesStatusChange: deleting nodes after
-- changed_at      TIMESTAMPTZ  PoolResourcesStatusChange: when the counts changed ("timestamp: <epoch seconds>";
--                              13 digits are read as milliseconds; NULL when the message has none)
WITH lists AS (
    SELECT region, project_id, pool_id, page, from_json(json_extract(content, '$.items'), '["JSON"]') AS items
    FROM event_pages
    WHERE json_valid(content) AND json_type(content, '$.items') = 'ARRAY'
),
items AS (
    SELECT region, project_id, pool_id, page, unnest(items) AS item, unnest(generate_series(1, len(items))) AS n
    FROM lists
),
events AS (
    SELECT region, project_id, pool_id, page, n,
           item ->> '$.type' AS type,
           item ->> '$.reason' AS reason,
           item ->> '$.message' AS message,
           pool_int(item ->> '$.count') AS count,
           pool_ts(item ->> '$.firstTimestamp') AS first_at,
           pool_ts(item ->> '$.lastTimestamp') AS last_at
    FROM items
    WHERE json_type(item) = 'OBJECT'
      AND (json_type(item, '$.reason') = 'VARCHAR' OR json_type(item, '$.message') = 'VARCHAR')
),
parsed AS (
    SELECT *,
           CASE WHEN reason = 'PoolStatusChange'
                THEN regexp_extract(message, '^\s*from\s+(\S+)\s+to\s+(\S+)\s*$', ['before', 'after']) END AS status,
           CASE WHEN reason = 'PoolResourcesStatusChange'
                THEN regexp_extract(message,
                    '^\s*([a-z]+(?:/[a-z]+)*)\s+count\s+from\s+([0-9]+(?:/[0-9]+)*)\s+to\s+([0-9]+(?:/[0-9]+)*)'
                    || '\s*(?:,\s*timestamp:\s*([0-9]{1,13}))?\s*$',
                    ['names', 'before', 'after', 'ts']) END AS counts
    FROM events
),
split AS (
    SELECT *,
           string_split(counts.names, '/') AS names,
           string_split(counts.before, '/') AS before,
           string_split(counts.after, '/') AS after
    FROM parsed
),
-- A count is read only when the message gives as many numbers as state names, on both sides.
ok AS (
    SELECT *, coalesce(counts.names <> '' AND len(names) = len(before) AND len(names) = len(after), false) AS readable
    FROM split
)
SELECT
    $snapshot_id::VARCHAR AS snapshot_id,
    $snapshot_at::TIMESTAMPTZ AS snapshot_at,
    region,
    project_id,
    pool_id,
    type,
    reason,
    message,
    count,
    first_at,
    last_at,
    nullif(status.before, '') AS from_status,
    nullif(status.after, '') AS to_status,
    CASE WHEN readable THEN pool_int(before[list_position(names, 'available')]) END AS from_available,
    CASE WHEN readable THEN pool_int(before[list_position(names, 'abnormal')]) END AS from_abnormal,
    CASE WHEN readable THEN pool_int(before[list_position(names, 'creating')]) END AS from_creating,
    CASE WHEN readable THEN pool_int(before[list_position(names, 'deleting')]) END AS from_deleting,
    CASE WHEN readable THEN pool_int(after[list_position(names, 'available')]) END AS to_available,
    CASE WHEN readable THEN pool_int(after[list_position(names, 'abnormal')]) END AS to_abnormal,
    CASE WHEN readable THEN pool_int(after[list_position(names, 'creating')]) END AS to_creating,
    CASE WHEN readable THEN pool_int(after[list_position(names, 'deleting')]) END AS to_deleting,
    CASE WHEN readable AND counts.ts <> ''
         THEN to_timestamp(CASE WHEN len(counts.ts) = 13 THEN counts.ts::BIGINT / 1000.0 ELSE counts.ts::BIGINT END)
    END AS changed_at
FROM ok
ORDER BY region, project_id, pool_id, page, n
