-- Table snapshots: one row per snapshot run, from its fetches and its pools. A target is ok when every pool
-- call made for it (list_pools, show_pool) succeeded; a ShowPool answered 404 ModelArts.50015001 succeeded too:
-- it observed that the pool is gone (the confirmation of a deletion). status: complete (every target and every discovery call ok), partial (some ok, some
-- not), failed (no target ok).
--
-- column              type         meaning (source)
-- snapshot_id         VARCHAR      snapshot, sortable UTC text like 20261128T060000Z (run)
-- snapshot_at         TIMESTAMPTZ  snapshot time, UTC (run)
-- region              VARCHAR      NULL: the run read every region; else the one region this run read (a region's
--                                  part of the snapshot: `poolscope snapshot --region`, a region partition), one row
--                                  per region read in table snapshots (the catalog's view sums them per snapshot)
-- project_id          VARCHAR      always NULL: a snapshot spans projects (as region)
-- status              VARCHAR      complete | partial | failed
-- started_at          TIMESTAMPTZ  when the run started fetching (wall clock)
-- finished_at         TIMESTAMPTZ  when the run finished fetching and landing (wall clock)
-- targets             INTEGER      targets fetched (configured plus discovered projects)
-- targets_ok          INTEGER      targets whose every call succeeded
-- targets_failed      INTEGER      targets with at least one failed call
-- discovery_failed    INTEGER      IAM project discovery calls that failed (their regions are incomplete)
-- flavor_calls_failed INTEGER      flavor catalog calls that failed: resourceflavors and virtualresourceflavors
--                                  (flavors and virtual_flavors only; targets are unaffected)
-- runtime_calls_failed INTEGER     ShowPoolRuntimeMetrics calls that failed (pool_allocation and
--                                  pool_workload_counts miss those projects; targets are unaffected)
-- pools               INTEGER      pool rows in the pools table for this snapshot
-- rejected_documents  INTEGER      documents or bodies that could not be used: the documents of the error rows of
--                                  rejected_documents (warnings are not rejections)
-- calls               INTEGER      API calls made
-- attempts            INTEGER      HTTP attempts made, retries included
-- throttled_attempts  INTEGER      attempts the gateway answered 429 (APIGW.0308), every endpoint: retried, and
--                                  not counted towards fetch.max_attempts; NULL in raw sets landed before it
-- rate_mode           VARCHAR      auto (fetch.rate_limit: auto, the pace found per endpoint) | fixed (a number);
--                                  NULL in raw sets landed before it
-- settled_rps         DOUBLE       requests per second the pace settled on at the end of the snapshot, summed
--                                  over endpoints (one endpoint: its rate); auto: just under the gateway's limit
--                                  once a 429 measured it, and where the next snapshot starts
-- endpoint_rates      VARCHAR      JSON array, one object per endpoint: endpoint, mode, start_rps (the pace at the
--                                  start), settled_rps, limit_known (a 429 measured the gateway's limit, now or in
--                                  the snapshot it started from), attempts, throttled (429s), cuts (times the pace
--                                  was lowered), peak_in_flight (most attempts in flight; NULL for fixed) (run.json)
WITH calls AS (
    SELECT * FROM fetches_rows
), per_target AS (
    SELECT region, project_id, endpoint, workspace_id,
           bool_and(outcome = 'ok' OR (call = 'show_pool' AND http_status = 404
                                       AND error_code IS NOT DISTINCT FROM 'ModelArts.50015001')) AS ok
    FROM calls
    WHERE call IN ('list_pools', 'show_pool')
    GROUP BY ALL
), counts AS (
    SELECT
        (SELECT count(*) FROM per_target)::INTEGER AS targets,
        (SELECT count(*) FILTER (WHERE ok) FROM per_target)::INTEGER AS targets_ok,
        (SELECT count(*) FILTER (WHERE NOT ok) FROM per_target)::INTEGER AS targets_failed,
        (SELECT count(*) FILTER (WHERE call = 'list_projects' AND outcome <> 'ok') FROM calls)::INTEGER
            AS discovery_failed,
        (SELECT count(*) FILTER (WHERE call IN ('list_resource_flavors', 'list_virtual_resource_flavors')
                                 AND outcome <> 'ok') FROM calls)::INTEGER
            AS flavor_calls_failed,
        (SELECT count(*) FILTER (WHERE call = 'runtime_metrics' AND outcome <> 'ok') FROM calls)::INTEGER
            AS runtime_calls_failed,
        (SELECT count(*) FROM calls)::INTEGER AS calls,
        (SELECT coalesce(sum(attempts), 0) FROM calls)::INTEGER AS attempts
), rates AS (
    SELECT unnest(from_json($rates::VARCHAR, '[{"endpoint": "VARCHAR", "mode": "VARCHAR", "settled_rps": "DOUBLE",
                                                "throttled": "INTEGER"}]')) AS r
), rate_totals AS (
    SELECT sum(r.throttled)::INTEGER AS throttled_attempts,
           CASE WHEN count(DISTINCT r.mode) = 1 THEN any_value(r.mode) END AS rate_mode,
           sum(r.settled_rps)::DOUBLE AS settled_rps
    FROM rates
)
SELECT
    $snapshot_id::VARCHAR AS snapshot_id,
    $snapshot_at::TIMESTAMPTZ AS snapshot_at,
    $region::VARCHAR AS region,
    NULL::VARCHAR AS project_id,
    CASE
        WHEN targets_ok = 0 THEN 'failed'
        WHEN targets_failed = 0 AND discovery_failed = 0 THEN 'complete'
        ELSE 'partial'
    END AS status,
    $started_at::TIMESTAMPTZ AS started_at,
    $finished_at::TIMESTAMPTZ AS finished_at,
    targets,
    targets_ok,
    targets_failed,
    discovery_failed,
    flavor_calls_failed,
    runtime_calls_failed,
    $pools::INTEGER AS pools,
    $rejected::INTEGER AS rejected_documents,
    calls,
    attempts,
    throttled_attempts,
    rate_mode,
    settled_rps,
    $rates::VARCHAR AS endpoint_rates
FROM counts, rate_totals
