-- Table fetches: one row per API call of a snapshot (per target; per pool for targets that name pools; per
-- page for paged listings), successful or not. Failures are data: a project whose listing failed is
-- "unobserved" in that snapshot, never "deleted". Read from the raw set's calls.jsonl.
--
-- column        type         meaning (source)
-- snapshot_id   VARCHAR      snapshot, sortable UTC text like 20261128T060000Z (run)
-- snapshot_at   TIMESTAMPTZ  snapshot time, UTC (run)
-- region        VARCHAR      region of the target (config or discovery)
-- project_id    VARCHAR      IAM project id of the target; "" for an IAM project discovery call
-- pool_id       VARCHAR      pool id a per-pool call asked about (ShowPool, and the collect: families below);
--                            NULL for a listing and the per-project calls
-- call          VARCHAR      list_pools | show_pool | list_resource_flavors | list_virtual_resource_flavors
--                             (virtualresourceflavors, per region with a Logical pool) | list_projects (IAM discovery) |
--                             project_names (IAM project list for the names, once per region) |
--                             runtime_metrics (ShowPoolRuntimeMetrics, per project) | pool_nodes (ListPoolNodes) |
--                             pool_monitor (ShowPoolMonitor; page 0 average, page 1 maximum) |
--                             workload_statistics (ShowWorkloadStatistics) | pool_events (ListEvents)
-- endpoint      VARCHAR      base URL called (no credentials, no query)
-- workspace_id  VARCHAR      workspaceId filter of the target, NULL when none
-- label_selector  VARCHAR    labelSelector filter of the target, NULL when none
-- status_filter VARCHAR      status filter of the target (created/creating/failed), NULL when none. A listing
--                            with no label_selector and no status_filter sees every pool of its workspace(s):
--                            only such a listing can show that a pool is gone
-- outcome       VARCHAR      ok | error (after all retries)
-- http_status   INTEGER      HTTP status of the final attempt; NULL when no response came (timeout, reset)
-- error_code    VARCHAR      error_code of the final attempt (e.g. APIGW.0308, ModelArts.50015001); NULL if ok
-- reason        VARCHAR      why the final attempt ended as it did: ok, http_<status>, timeout, connection_reset,
--                            truncated_json (a 2xx body cut short; the bytes are kept raw), not_json (a 2xx
--                            body that is not JSON, e.g. HTML), empty_body, body_too_large (over fetch.max_body_mb
--                            decompressed; its first 64 KiB kept), client_error (failure inside the client), ...;
--                            NULL in raw sets landed before this column existed
-- error_msg     VARCHAR      error message of the call (credentials masked); NULL if ok
-- request_id    VARCHAR      X-Request-Id of the final attempt (else the body's request_id)
-- attempts      INTEGER      attempts made, retries included
-- duration_ms   DOUBLE       wall time from the first attempt's start to the final attempt's end
-- started_at    TIMESTAMPTZ  when the first attempt started
-- call_id       VARCHAR      id of the call within the raw set (bodies/<call_id>-<attempt>.body)
-- raw_file      VARCHAR      final attempt's landed body, relative to the storage root: its own file, or the pack
--                            of its family (bodies/<call>-<n>.pack, one line `<call_id> <body>` per answer)
-- raw_offset    BIGINT       where the body starts in raw_file when that is a pack; NULL when the file is the body
-- raw_bytes     BIGINT       length of the body in a pack (bytes from raw_offset); NULL when the file is the body
SELECT
    $snapshot_id::VARCHAR AS snapshot_id,
    $snapshot_at::TIMESTAMPTZ AS snapshot_at,
    c.target.region AS region,
    c.target.project_id AS project_id,
    c.pool_id,
    c.call,
    c.target.endpoint AS endpoint,
    c.target.workspace_id AS workspace_id,
    c.target.label_selector AS label_selector,
    c.target.status AS status_filter,
    c.outcome,
    c.http_status,
    c.error_code,
    c.reason,
    c.error_msg,
    c.request_id,
    c.attempts,
    c.duration_ms,
    c.started_at,
    c.call_id,
    CASE WHEN c.body_file IS NOT NULL THEN $raw_dir || '/' || c.body_file END AS raw_file,
    c.body_offset AS raw_offset,
    c.body_bytes AS raw_bytes
FROM read_json(
    $calls,
    format = 'newline_delimited',
    columns = {
        call_id: 'VARCHAR', call: 'VARCHAR',
        target: 'STRUCT(region VARCHAR, project_id VARCHAR, endpoint VARCHAR, workspace_id VARCHAR, label_selector VARCHAR, status VARCHAR)',
        pool_id: 'VARCHAR', outcome: 'VARCHAR', http_status: 'INTEGER', error_code: 'VARCHAR',
        reason: 'VARCHAR', error_msg: 'VARCHAR', request_id: 'VARCHAR', attempts: 'INTEGER', started_at: 'TIMESTAMPTZ',
        duration_ms: 'DOUBLE', body_file: 'VARCHAR',
        body_offset: 'BIGINT', body_bytes: 'BIGINT'
    }
) AS c
ORDER BY c.call_id
