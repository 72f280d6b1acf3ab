-- Not a view of its own (files starting with '_' are steps): the body of the catalog's snapshots view, one row per
-- snapshot. A snapshot taken a region at a time (`poolscope snapshot --region`, the region partitions of the
-- Dagster job) has a row per region in the snapshots table (its `region` set), each committed by its own run;
-- here they add up to the snapshot's row: counts summed, the status complete only when every part is, failed
-- only when every part failed, the fetch window from the first start to the last finish, and the endpoints' paces
-- of every part. A snapshot of one part (the usual whole run, region NULL) reads as its row. `observed` is every
-- visible row, put in by pipeline/catalog/views.py.
SELECT
    snapshot_id,
    any_value(snapshot_at) AS snapshot_at,
    CASE WHEN count(*) = 1 THEN any_value(region) END AS region,
    NULL::VARCHAR AS project_id,
    CASE
        WHEN bool_and(status = 'complete') THEN 'complete'
        WHEN bool_and(status = 'failed') THEN 'failed'
        ELSE 'partial'
    END AS status,
    min(started_at) AS started_at,
    max(finished_at) AS finished_at,
    sum(targets)::INTEGER AS targets,
    sum(targets_ok)::INTEGER AS targets_ok,
    sum(targets_failed)::INTEGER AS targets_failed,
    sum(discovery_failed)::INTEGER AS discovery_failed,
    sum(flavor_calls_failed)::INTEGER AS flavor_calls_failed,
    sum(runtime_calls_failed)::INTEGER AS runtime_calls_failed,
    sum(pools)::INTEGER AS pools,
    sum(rejected_documents)::INTEGER AS rejected_documents,
    sum(calls)::INTEGER AS calls,
    sum(attempts)::INTEGER AS attempts,
    sum(throttled_attempts)::INTEGER AS throttled_attempts,
    CASE WHEN count(DISTINCT rate_mode) = 1 THEN any_value(rate_mode) END AS rate_mode,
    sum(settled_rps)::DOUBLE AS settled_rps,
    CASE
        WHEN count(*) = 1 THEN any_value(endpoint_rates)
        ELSE to_json(flatten(list(endpoint_rates::JSON[] ORDER BY region)))::VARCHAR
    END AS endpoint_rates,
    snapshot_day
FROM observed
GROUP BY snapshot_id, snapshot_day
