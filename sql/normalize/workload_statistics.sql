-- Table workload_statistics: workloads of each pool per type and status, from ShowWorkloadStatistics
-- (GET /v2/{project_id}/statistics/pools/{pool_name}/workloads, one call per pool the snapshot read;
-- collect.workload_statistics). One row per snapshot x pool x workload type x status (key: snapshot_id, region,
-- project_id, pool_id, type, status). The sources disagree on the shape (utilization reference section 5): the
-- SDK reads root `statistics` with integer counts, the docs' table names the root `statics` with counts as
-- strings; both are read, and `root` records which one an answer had (`statistics` when an answer has both).
-- Running and Queue match ShowPoolRuntimeMetrics' running and queued workloads (pool_workload_counts) when taken
-- at the same time. An answer that is not valid JSON or has neither root, an item without a type or a status
-- map, and a count that is not a whole number >= 0 are skipped here (the bytes stay in the raw landing); a type
-- listed twice keeps its first item. The item's and the answer's `total` are not kept: they are the sums.
--
-- column       type         meaning (source path in the answer)
-- snapshot_id  VARCHAR      snapshot, sortable UTC text like 20261128T060000Z (run)
-- snapshot_at  TIMESTAMPTZ  snapshot time, UTC (run)
-- region       VARCHAR      region of the project (run)
-- project_id   VARCHAR      IAM project id (run)
-- pool_id      VARCHAR      the pool the call asked about (run)
-- type         VARCHAR      workload type: train | infer | notebook | ... as given (<root>.items[].type)
-- status       VARCHAR      Queue | Pending | Abnormal | Terminating | Creating | Running | Completed | Terminated |
--                           Failed | ... as given (a key of <root>.items[].status)
-- count        INTEGER      workloads of that type in that status (<root>.items[].status.<status>; a number or
--                           a string of digits)
-- root         VARCHAR      the answer's root key: statistics (SDK) | statics (docs' table)
WITH answers AS (
    SELECT region, project_id, pool_id, page,
           CASE WHEN json_type(content, '$.statistics') = 'OBJECT' THEN 'statistics' ELSE 'statics' END AS root,
           json_extract(content, CASE WHEN json_type(content, '$.statistics') = 'OBJECT'
                                      THEN '$.statistics' ELSE '$.statics' END) AS s
    FROM workload_pages
    WHERE pool_id IS NOT NULL AND json_valid(content)
      AND (json_type(content, '$.statistics') = 'OBJECT' OR json_type(content, '$.statics') = 'OBJECT')
),
items AS (
    SELECT region, project_id, pool_id, page, root,
           unnest(from_json(json_extract(s, '$.items'), '["JSON"]')) AS item,
           generate_subscripts(from_json(json_extract(s, '$.items'), '["JSON"]'), 1) AS idx
    FROM answers
    WHERE json_type(s, '$.items') = 'ARRAY'
),
typed AS (
    SELECT region, project_id, pool_id, root, item ->> '$.type' AS type, json_extract(item, '$.status') AS st
    FROM items
    WHERE json_type(item) = 'OBJECT' AND json_type(item, '$.type') = 'VARCHAR'
      AND coalesce(item ->> '$.type', '') <> '' AND json_type(item, '$.status') = 'OBJECT'
    QUALIFY row_number() OVER (PARTITION BY region, project_id, pool_id, item ->> '$.type' ORDER BY page, idx) = 1
)
SELECT
    $snapshot_id::VARCHAR AS snapshot_id,
    $snapshot_at::TIMESTAMPTZ AS snapshot_at,
    t.region,
    t.project_id,
    t.pool_id,
    t.type,
    e.key AS status,
    json_count(e.value) AS count,
    t.root
FROM typed AS t, json_each(t.st) AS e
WHERE json_count(e.value) IS NOT NULL
ORDER BY t.region, t.project_id, t.pool_id, t.type, e.key
