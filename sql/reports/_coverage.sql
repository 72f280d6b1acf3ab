-- Non-table step: what a report period is missing, for the coverage statement every export carries
-- (pipeline/reports/days.py report_coverage). Reads the catalog's snapshots and fetches (run by
-- pipeline/reports/tables.py coverage_rows, with the same stand-ins as the reports), for the snapshots of the UTC
-- days [$from_day, $to_day] except those in $excluded (the snapshots the report gate leaves out: they are
-- stated apart, with the integrity check they failed).
-- One 'snapshots' row: how many snapshots the period has (excluded ones included). Then one row per target a
-- used snapshot could not read, and error code: a project whose pool listing failed ('unreadable_project'),
-- or a pool whose ShowPool failed ('unreadable_pool'; a 404 ModelArts.50015001 is an answer, "pool gone",
-- not a failure). These snapshots count in the reports for what they did read.
-- Parameters: $from_day DATE, $to_day DATE (inclusive), $period_hours DOUBLE (the schedule period),
-- $excluded VARCHAR[] (snapshot ids).
--
-- column          type     meaning
-- kind            VARCHAR  snapshots | unreadable_project | unreadable_pool
-- region          VARCHAR  region of the target; NULL on the snapshots row
-- project_id      VARCHAR  project of the target; NULL on the snapshots row
-- pool_id         VARCHAR  the pool a failed ShowPool asked for; NULL otherwise
-- reason          VARCHAR  the error code of the failure (else its reason: timeout, http_503, ...)
-- snapshots       BIGINT   snapshots of the period (snapshots row), or the used snapshots that could not read
--                          this target with this error
-- hours           DOUBLE   snapshots x $period_hours: about how long the target went unobserved
-- first_snapshot  VARCHAR  the first of those snapshots
-- last_snapshot   VARCHAR  the last of those snapshots
WITH failures AS (
    SELECT DISTINCT snapshot_id, region, project_id,
           CASE WHEN call = 'show_pool' THEN pool_id END AS pool_id,
           coalesce(error_code, reason, 'http_' || http_status, 'no_response') AS reason
    FROM fetches
    WHERE snapshot_day BETWEEN $from_day::DATE AND $to_day::DATE
      AND call IN ('list_pools', 'show_pool') AND outcome <> 'ok'
      AND NOT (call = 'show_pool' AND http_status = 404 AND error_code = 'ModelArts.50015001')
      AND NOT list_contains($excluded::VARCHAR[], snapshot_id)
)
SELECT 'snapshots' AS kind, NULL::VARCHAR AS region, NULL::VARCHAR AS project_id, NULL::VARCHAR AS pool_id,
       NULL::VARCHAR AS reason, count(*) AS snapshots, count(*) * $period_hours::DOUBLE AS hours,
       min(snapshot_id) AS first_snapshot, max(snapshot_id) AS last_snapshot
FROM snapshots
WHERE snapshot_day BETWEEN $from_day::DATE AND $to_day::DATE
UNION ALL
SELECT CASE WHEN pool_id IS NULL THEN 'unreadable_project' ELSE 'unreadable_pool' END, region, project_id,
       pool_id, reason, count(DISTINCT snapshot_id), count(DISTINCT snapshot_id) * $period_hours::DOUBLE,
       min(snapshot_id), max(snapshot_id)
FROM failures
GROUP BY ALL
ORDER BY kind <> 'snapshots', region, project_id, pool_id NULLS FIRST, reason
