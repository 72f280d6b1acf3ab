-- Non-table step: what a report period is missing, for the coverage statement every export carries
-- (pipeline/reports/days.py report_coverage). Reads the catalog's snapshots and fetches (run by
-- pipeline/reports/tables.py coverage_rows, with the same stand-ins as the reports), for the snapshots of the UTC
-- days [$from_day, $to_day] except those in $excluded (the snapshots the report gate leaves out: they are
-- stated apart, with the integrity check they failed).
-- One 'snapshots' row: how many snapshots the period has (excluded ones included), and the hours they were
-- expected to observe. One 'region' row per region targeted in a used snapshot: its projects, read in every
-- used snapshot that targeted them, in some, or in none. Then one row per target a
-- used snapshot could not read, and error code: a project whose pool listing failed ('unreadable_project'),
-- or a pool whose ShowPool failed ('unreadable_pool'; a 404 ModelArts.50015001 is an answer, "pool gone",
-- not a failure). These snapshots count in the reports for what they did read.
-- Parameters: $from_day DATE, $to_day DATE (inclusive), $period_hours DOUBLE (the schedule period),
-- $excluded VARCHAR[] (snapshot ids).
--
-- column          type     meaning
-- kind            VARCHAR  snapshots | region | unreadable_project | unreadable_pool
-- region          VARCHAR  region of the target (or of the region row); NULL on the snapshots row
-- project_id      VARCHAR  project of the target; NULL on the snapshots row
-- project_name    VARCHAR  the project's IAM name (table projects); NULL when unknown or not a project row
-- pool_id         VARCHAR  the pool a failed ShowPool asked for; NULL otherwise
-- reason          VARCHAR  the error code of the failure (else its reason: timeout, http_503, ...)
-- snapshots       BIGINT   snapshots of the period (snapshots row), used snapshots that targeted the region
--                          (region row), or the used snapshots that could not read this target with this error
-- hours           DOUBLE   snapshots x $period_hours: the hours observed (snapshots and region rows: used
--                          snapshots only), or about how long the target went unobserved
-- first_snapshot  VARCHAR  the first of those snapshots
-- last_snapshot   VARCHAR  the last of those snapshots
-- projects_expected  BIGINT  region row: projects targeted by a used snapshot of the period; NULL otherwise
-- projects_read      BIGINT  region row: of those, read in every used snapshot that targeted them
-- projects_partly    BIGINT  region row: read in some of those snapshots, not all
-- projects_unread    BIGINT  region row: read in none of them (every call failed)
-- hours_expected     DOUBLE  snapshots row: hours from the period's start (or the lake's first snapshot, if
--                            later) to the end of $to_day (or the last snapshot + $period_hours, if earlier)
WITH failures AS (
    SELECT DISTINCT snapshot_id, region, project_id,
           CASE WHEN call = 'show_pool' THEN pool_id END AS pool_id,
           coalesce(error_code, reason, 'http_' || http_status, 'no_response') AS reason
    FROM fetches
    WHERE snapshot_day BETWEEN $from_day::DATE AND $to_day::DATE
      AND call IN ('list_pools', 'show_pool') AND outcome <> 'ok'
      AND NOT (call = 'show_pool' AND http_status = 404 AND error_code = 'ModelArts.50015001')
      AND NOT list_contains($excluded::VARCHAR[], snapshot_id)
),
-- each project's reads per used snapshot: ok when every pool call of it answered (a 404 "pool gone" answers)
reads AS (
    SELECT region, project_id, snapshot_id,
           bool_and(outcome = 'ok' OR (call = 'show_pool' AND http_status = 404
                                       AND error_code IS NOT DISTINCT FROM 'ModelArts.50015001')) AS ok
    FROM fetches
    WHERE snapshot_day BETWEEN $from_day::DATE AND $to_day::DATE
      AND call IN ('list_pools', 'show_pool')
      AND NOT list_contains($excluded::VARCHAR[], snapshot_id)
    GROUP BY ALL
),
per_project AS (
    SELECT region, project_id, count(*) AS snaps, count(*) FILTER (WHERE ok) AS ok_snaps
    FROM reads
    GROUP BY ALL
),
span AS (
    SELECT greatest(epoch($from_day::DATE::TIMESTAMP), (SELECT epoch(min(snapshot_at)) FROM snapshots)) AS lo,
           least(epoch(($to_day::DATE + 1)::TIMESTAMP),
                 max(epoch(snapshot_at)) + 3600 * $period_hours::DOUBLE) AS hi
    FROM snapshots
    WHERE snapshot_day BETWEEN $from_day::DATE AND $to_day::DATE
)
SELECT 'snapshots' AS kind, NULL::VARCHAR AS region, NULL::VARCHAR AS project_id, NULL::VARCHAR AS project_name,
       NULL::VARCHAR AS pool_id,
       NULL::VARCHAR AS reason, count(*) AS snapshots,
       count(*) FILTER (WHERE NOT list_contains($excluded::VARCHAR[], snapshot_id)) * $period_hours::DOUBLE
           AS hours,
       min(snapshot_id) AS first_snapshot, max(snapshot_id) AS last_snapshot,
       NULL::BIGINT AS projects_expected, NULL::BIGINT AS projects_read, NULL::BIGINT AS projects_partly,
       NULL::BIGINT AS projects_unread,
       greatest(0, coalesce(((SELECT hi FROM span) - (SELECT lo FROM span)) / 3600, 0))::DOUBLE AS hours_expected
FROM snapshots
WHERE snapshot_day BETWEEN $from_day::DATE AND $to_day::DATE
UNION ALL
SELECT 'region', p.region, NULL, NULL, NULL, NULL, r.snaps, r.snaps * $period_hours::DOUBLE, r.first_id, r.last_id,
       count(*), count(*) FILTER (WHERE ok_snaps = p.snaps), count(*) FILTER (WHERE ok_snaps BETWEEN 1 AND p.snaps - 1),
       count(*) FILTER (WHERE ok_snaps = 0), NULL
FROM per_project AS p
JOIN (SELECT region, count(DISTINCT snapshot_id) AS snaps, min(snapshot_id) AS first_id,
             max(snapshot_id) AS last_id
      FROM reads GROUP BY region) AS r USING (region)
GROUP BY p.region, r.snaps, r.first_id, r.last_id
UNION ALL
SELECT CASE WHEN f.pool_id IS NULL THEN 'unreadable_project' ELSE 'unreadable_pool' END, f.region, f.project_id,
       any_value(n.project_name), f.pool_id, f.reason, count(DISTINCT f.snapshot_id),
       count(DISTINCT f.snapshot_id) * $period_hours::DOUBLE, min(f.snapshot_id), max(f.snapshot_id),
       NULL, NULL, NULL, NULL, NULL
FROM failures AS f
LEFT JOIN project_names($to_day) AS n USING (region, project_id)
GROUP BY f.region, f.project_id, f.pool_id, f.reason
ORDER BY CASE kind WHEN 'snapshots' THEN 0 WHEN 'region' THEN 1 ELSE 2 END, region, project_id,
         pool_id NULLS FIRST, reason
