-- Non-table step: the macros shared by the reports (capacity_utilization, billing_modes, subscriptions).
-- pipeline/reports/tables.py runs this file as TEMP MACROs on the report connection before a report's SELECT,
-- so it works on a read-only catalog connection and writes nothing. Times are worked in epoch seconds
-- (DOUBLE), so nothing depends on the session's TimeZone: every day is a UTC day.
--
-- THE INTEGRATION RULE (how snapshots become node-hours):
--   * An observation of a pool is a snapshot that tells us its state:
--       present  the pool has a row in `pools` in that snapshot (from a list_pools or a show_pool call);
--       absent   the pool has no row, and the snapshot holds a successful listing that would have returned
--                it: a list_pools target of the pool's region and project, every call of it ok, with no
--                label_selector and no status_filter, and with no workspace_id or the pool's workspace_id
--                (its label at the present observation, "0" when unlabelled); or a show_pool call for the
--                pool answered 404 ModelArts.50015001 (pool not found).
--     A snapshot where the project's listing failed (or was filtered) is no observation of the pools it did
--     not return: it neither ends an interval nor starts one.
--   * The counts of a present observation at time t hold from t until the pool's next observation
--     (present or absent), but for at most cap = 2 x period_hours. Time from t + cap to the next observation
--     is a GAP: reported as gap hours, never credited with node-hours. After the pool's last observation
--     the "next observation" is the data horizon: the last snapshot_at in `snapshots` + period_hours (the
--     time the next scheduled snapshot was due), so the newest snapshot covers one period, and a pool last
--     seen earlier is credited up to the cap and flagged as a gap after it.
--   * After an absent observation the pool has 0 nodes (no interval) until it is present again.
--   * Intervals are split at UTC midnights and credited to each day they overlap. Only days in
--     [from_day, to_day] that have at least one snapshot (any status) produce rows.
--
-- report_lo_day(from_day, period_hours) -> DATE
--     The first snapshot_day a report must read: an observation up to cap before from_day still holds into it.
CREATE OR REPLACE TEMP MACRO report_lo_day(from_day, period_hours) AS
    from_day::DATE - CAST(ceil(2 * period_hours::DOUBLE / 24) AS INTEGER);

-- pool_key(region, project_id, pool_id) -> UBIGINT, and pool_key2 (the same three, hashed in another order)
--     Compact pool keys: the big joins and groupings of the reports work on these numbers instead of three
--     long strings. pool_attributes checks that no two pools share a pool_key (via pool_key2), and stops the
--     report with an error if they ever do (odds about n^2 / 2^65 for n pools).
CREATE OR REPLACE TEMP MACRO pool_key(region, project_id, pool_id) AS hash(region, project_id, pool_id);
CREATE OR REPLACE TEMP MACRO pool_key2(region, project_id, pool_id) AS hash(pool_id, region, project_id);

-- report_evidence(hi_day) -> TABLE (kind, key, t): what can show that a pool is GONE at time t (epoch seconds),
-- from `fetches` up to snapshot_day hi_day:
--   kind 'listing'  key = hash(region, project_id, ws): a list_pools target whose every call was ok, with no
--                   label_selector and no status_filter, in a snapshot where no ShowPool of the project failed
--                   (every pool such a listing missed was confirmed gone: pipeline/land/fetch.py asks for each). ws = '' when it had no workspace filter (it saw every
--                   workspace of the project), else its workspace_id. A pool of that project (and workspace)
--                   with no row in that snapshot is gone.
--   kind 'gone'     key = pool_key(region, project_id, pool_id): a show_pool call answered 404
--                   ModelArts.50015001 ("pool not found").
-- Stops with an error if two listing sets share a hash key.
CREATE OR REPLACE TEMP MACRO report_evidence(hi_day) AS TABLE
WITH calls AS (
    SELECT region, project_id, pool_id, call, endpoint, workspace_id, label_selector, status_filter, outcome,
           http_status, error_code, epoch(snapshot_at) AS t
    FROM fetches
    WHERE snapshot_day <= hi_day::DATE AND call IN ('list_pools', 'show_pool')
),
unconfirmed AS (
    -- A ShowPool that failed (other than 404 ModelArts.50015001) in a snapshot: if it was a deletion check, a pool
    -- the listing missed is unobserved, not gone; so that snapshot's listings of the project prove nothing.
    SELECT DISTINCT region, project_id, t
    FROM calls
    WHERE call = 'show_pool' AND outcome <> 'ok'
      AND NOT (http_status = 404 AND error_code IS NOT DISTINCT FROM 'ModelArts.50015001')
),
listing_targets AS (
    SELECT l.*
    FROM (SELECT region, project_id, coalesce(workspace_id, '') AS ws, t
          FROM calls
          WHERE call = 'list_pools' AND label_selector IS NULL AND status_filter IS NULL
          GROUP BY region, project_id, endpoint, workspace_id, t
          HAVING bool_and(outcome = 'ok')) AS l
    ANTI JOIN unconfirmed AS u ON u.region = l.region AND u.project_id = l.project_id AND u.t = l.t
),
listing_keys AS (
    SELECT hash(region, project_id, ws) AS key
    FROM (SELECT DISTINCT region, project_id, ws FROM listing_targets)
    GROUP BY key
    HAVING CASE WHEN count(*) = 1 THEN true
                ELSE error('report_evidence: two listing sets share a hash key; report this bug') END
)
SELECT DISTINCT 'listing' AS kind, hash(region, project_id, ws) AS key, t
FROM listing_targets
WHERE hash(region, project_id, ws) IN (SELECT key FROM listing_keys)
UNION ALL
SELECT DISTINCT 'gone' AS kind, pool_key(region, project_id, pool_id) AS key, t
FROM calls
WHERE call = 'show_pool' AND http_status = 404 AND error_code = 'ModelArts.50015001';

-- pool_days(from_day, to_day, period_hours) -> TABLE: the integration rule applied. One row per present
-- observation of a pool x UTC day it credits (held or gap time > 0), for the days in [from_day, to_day] that
-- have at least one snapshot. Observations read: snapshot_at from from_day - cap to the end of to_day, plus
-- each pool's latest observation before that (for the gap it may open into the range).
--   pk           UBIGINT  pool_key(region, project_id, pool_id)
--   t            DOUBLE   epoch seconds of the observation's snapshot_at
--   held_end     DOUBLE   min(next_obs, t + cap): the counts hold over [t, held_end)
--   next_obs     DOUBLE   the pool's next observation (present or absent), else the horizon (last snapshot_at
--                         + period_hours), bounded by the end of to_day; [held_end, next_obs) is a gap
--   next_absent  BOOLEAN  the next observation (before the horizon and the end of to_day) found the pool gone
--   is_physical, billing_mode, period_type   as in `pools` at this observation
--   d            BIGINT   the day credited, as days since 1970-01-01 (day = DATE '1970-01-01' + d)
--   held_hours   DOUBLE   hours of [t, held_end) within the day: the counts hold
--   carried_hours DOUBLE  the part of held_hours after t + period_hours: the next scheduled snapshot did not
--                         observe the pool (failed listing, missed run), so these counts are carried forward
--   gap_hours    DOUBLE   hours of [held_end, next_obs) within the day: unobserved, not credited
--   before       STRUCT   for an observation from before the window (it only opens a gap into the range):
--                         its pool's attributes (as pool_attributes), else NULL
-- Strings are kept out of these rows on purpose: they number one per pool per snapshot, and carrying the pool's
-- names through the joins cost more than everything else (see pool_attributes).
CREATE OR REPLACE TEMP MACRO pool_days(from_day, to_day, period_hours) AS TABLE
WITH snaps AS (
    -- the window's snapshots (the horizon is the last of them: a window without snapshots has no rows at all)
    SELECT epoch(snapshot_at) AS t, snapshot_day
    FROM snapshots
    WHERE snapshot_day BETWEEN report_lo_day(from_day, period_hours) AND to_day::DATE
),
k AS (
    SELECT 2 * 3600 * period_hours::DOUBLE AS cap,
           (from_day::DATE - DATE '1970-01-01') * 86400 - 2 * 3600 * period_hours::DOUBLE AS w_start,
           (from_day::DATE - DATE '1970-01-01') * 86400::DOUBLE AS f_start,
           ((to_day::DATE - DATE '1970-01-01') + 1) * 86400::DOUBLE AS w_end,
           (SELECT max(t) FROM snaps) + 3600 * period_hours::DOUBLE AS horizon
),
days AS (
    SELECT DISTINCT (snapshot_day - DATE '1970-01-01') AS d
    FROM snaps
    WHERE snapshot_day >= from_day::DATE
),
evidence AS (
    SELECT * FROM report_evidence(to_day)
),
listings AS (
    SELECT key AS lk, t FROM evidence WHERE kind = 'listing'
),
gone AS (
    SELECT key AS pk, t FROM evidence WHERE kind = 'gone'
),
rows_before AS (
    -- Each pool's latest observation before the window, for the gap it may open into the range. Only pools of
    -- projects without a successful unfiltered all-workspace listing between the window's start and from_day
    -- can have one (the others were seen, present or gone, in that stretch), so the usual case reads nothing.
    SELECT pk, max(t) AS t,
           arg_max({'lk_all': lk_all, 'lk_ws': lk_ws, 'is_physical': is_physical, 'billing_mode': billing_mode,
                    'period_type': period_type, 'before': before}, t) AS v
    FROM (
        SELECT pool_key(region, project_id, pool_id) AS pk, epoch(snapshot_at) AS t,
               hash(region, project_id, '') AS lk_all,
               hash(region, project_id, coalesce(workspace_id, '0')) AS lk_ws,
               is_physical, billing_mode, period_type,
               {'region': region, 'project_id': project_id, 'pool_id': pool_id,
                'pk2': pool_key2(region, project_id, pool_id), 'display_name': display_name,
                'pool_type': pool_type, 'is_physical': is_physical, 'parent': parent, 'root': root} AS before
        FROM pools
        WHERE snapshot_day <= report_lo_day(from_day, period_hours)
          AND epoch(snapshot_at) < (SELECT w_start FROM k)
          AND hash(region, project_id, '') NOT IN (
              SELECT key FROM evidence
              WHERE kind = 'listing' AND t >= (SELECT w_start FROM k) AND t < (SELECT f_start FROM k))
    )
    GROUP BY pk
),
present AS (
    SELECT pool_key(region, project_id, pool_id) AS pk, epoch(snapshot_at) AS t,
           hash(region, project_id, '') AS lk_all,
           hash(region, project_id, coalesce(workspace_id, '0')) AS lk_ws,
           is_physical, billing_mode, period_type, NULL AS before
    FROM pools
    WHERE snapshot_day BETWEEN report_lo_day(from_day, period_hours) AND to_day::DATE
      AND epoch(snapshot_at) >= (SELECT w_start FROM k)
    UNION ALL
    SELECT pk, t, v.lk_all, v.lk_ws, v.is_physical, v.billing_mode, v.period_type, v.before FROM rows_before
),
-- for every listing set and snapshot time: is there a listing at that time, and when is the next one
query_times AS (
    SELECT t FROM snaps WHERE snapshot_day >= report_lo_day(from_day, period_hours)
    UNION
    SELECT t FROM rows_before
),
grid AS (
    SELECT q.lk, q.t, l.t AS next_listing, x.t IS NOT NULL AS listed
    FROM (SELECT lk, t FROM (SELECT DISTINCT lk FROM listings) CROSS JOIN query_times) AS q
    ASOF LEFT JOIN listings AS l ON l.lk = q.lk AND l.t > q.t
    LEFT JOIN listings AS x ON x.lk = q.lk AND x.t = q.t
),
matched AS (
    SELECT p.*,
           least(ga.next_listing, gw.next_listing) AS next_listing,
           coalesce(ga.listed, false) OR coalesce(gw.listed, false) AS covered
    FROM present AS p
    LEFT JOIN grid AS ga ON ga.lk = p.lk_all AND ga.t = p.t
    LEFT JOIN grid AS gw ON gw.lk = p.lk_ws AND gw.t = p.t
),
-- Pools seen outside a covering listing (show_pool, a filtered listing) or answered 404: only these need
-- their own next event; a pool seen only in covering listings is next observed at the next listing.
special AS (
    SELECT pk FROM matched WHERE NOT covered
    UNION
    SELECT pk FROM gone
),
special_next AS (
    SELECT pk, t, next_t, next_kind
    FROM (
        SELECT pk, t, kind, lead(t) OVER w AS next_t, lead(kind) OVER w AS next_kind
        FROM (
            SELECT pk, t, 'present' AS kind FROM matched WHERE pk IN (SELECT pk FROM special)
            UNION ALL
            SELECT pk, t, 'absent' AS kind FROM gone
        )
        WINDOW w AS (PARTITION BY pk ORDER BY t, kind DESC)
    )
    WHERE kind = 'present'
),
observations AS (
    SELECT m.pk, m.t, m.is_physical, m.billing_mode, m.period_type, m.before,
           least(m.next_listing, sn.next_t, k.horizon, k.w_end) AS next_obs,
           least(m.next_listing, sn.next_t, k.horizon, k.w_end, m.t + k.cap) AS held_end,
           least(m.next_listing, sn.next_t) < least(k.horizon, k.w_end)
               AND (sn.next_kind = 'absent' OR m.next_listing < coalesce(sn.next_t, 'infinity'::DOUBLE))
               AS next_absent
    FROM matched AS m
    LEFT JOIN special_next AS sn USING (pk, t)
    CROSS JOIN k
),
split AS (
    SELECT *, unnest(range(floor(t / 86400)::BIGINT, ceil(next_obs / 86400)::BIGINT)) AS d
    FROM observations
    WHERE next_obs > t
)
SELECT pk, t, held_end, next_obs, coalesce(next_absent, false) AS next_absent,
       is_physical, billing_mode, period_type, d,
       greatest(0, least(held_end, (d + 1) * 86400::DOUBLE) - greatest(t, d * 86400::DOUBLE)) / 3600 AS held_hours,
       greatest(0, least(held_end, (d + 1) * 86400::DOUBLE)
                   - greatest(least(held_end, t + 3600 * period_hours::DOUBLE), d * 86400::DOUBLE)) / 3600
           AS carried_hours,
       greatest(0, least(next_obs, (d + 1) * 86400::DOUBLE) - greatest(held_end, d * 86400::DOUBLE)) / 3600
           AS gap_hours,
       before
FROM split
WHERE d IN (SELECT d FROM days)
  AND (least(held_end, (d + 1) * 86400::DOUBLE) > greatest(t, d * 86400::DOUBLE)
       OR least(next_obs, (d + 1) * 86400::DOUBLE) > greatest(held_end, d * 86400::DOUBLE));

-- pool_attributes(from_day, to_day, period_hours) -> TABLE, one row per pool observed in the window that
-- pool_days reads (from_day - cap to the end of to_day): its names at its latest observation there.
--   pk, pk2 (pool_key, pool_key2), region, project_id, pool_id, display_name, pool_type, is_physical, parent,
--   root
-- Stops with an error if two pools share a pool_key.
CREATE OR REPLACE TEMP MACRO pool_attributes(from_day, to_day, period_hours) AS TABLE
SELECT pk, pk2, region, project_id, pool_id, a.display_name, a.pool_type, a.is_physical, a.parent, a.root
FROM (
    SELECT pool_key(region, project_id, pool_id) AS pk,
           min(pool_key2(region, project_id, pool_id)) AS pk2,
           CASE WHEN min(pool_key2(region, project_id, pool_id)) = max(pool_key2(region, project_id, pool_id))
                THEN true ELSE error('pool_attributes: two pools share a pool_key; report this bug') END AS checked,
           -- the key's own parts cannot change; the rest is taken at the latest observation
           any_value(region) AS region, any_value(project_id) AS project_id, any_value(pool_id) AS pool_id,
           arg_max({'display_name': display_name, 'pool_type': pool_type, 'is_physical': is_physical,
                    'parent': parent, 'root': root}, snapshot_at) AS a
    FROM pools
    WHERE snapshot_day BETWEEN report_lo_day(from_day, period_hours) AND to_day::DATE
    GROUP BY pk
)
WHERE checked;

-- pool_places(from_day, to_day, period_hours) -> TABLE (pk, pk2, region, project_id): pool_attributes without
-- the names, for reports that only group by region and project (much less to read).
CREATE OR REPLACE TEMP MACRO pool_places(from_day, to_day, period_hours) AS TABLE
SELECT pk, pk2, region, project_id
FROM (
    SELECT pool_key(region, project_id, pool_id) AS pk,
           min(pool_key2(region, project_id, pool_id)) AS pk2,
           CASE WHEN min(pool_key2(region, project_id, pool_id)) = max(pool_key2(region, project_id, pool_id))
                THEN true ELSE error('pool_places: two pools share a pool_key; report this bug') END AS checked,
           any_value(region) AS region, any_value(project_id) AS project_id
    FROM pools
    WHERE snapshot_day BETWEEN report_lo_day(from_day, period_hours) AND to_day::DATE
    GROUP BY pk
)
WHERE checked;

-- project_names(to_day) -> TABLE (region, project_id, project_name): each project's IAM name at its latest
-- `projects` row up to snapshot_day to_day (names people know, beside the 32-hex ids); a project IAM never
-- listed (no permission, fetch.project_names off) has no row, and the reports show its name as NULL.
CREATE OR REPLACE TEMP MACRO project_names(to_day) AS TABLE
SELECT region, project_id, arg_max(name, snapshot_at) AS project_name
FROM projects
WHERE snapshot_day <= to_day::DATE
GROUP BY region, project_id;

-- USE, beside the node counts: what the pools' resources were held for (allocation, queues) and measured at.
--
-- pool_readings(from_day, to_day, period_hours) -> TABLE, one row per pool x snapshot with a runtime reading
-- (pool_allocation, pool_workload_counts: ShowPoolRuntimeMetrics) in the window pool_days reads. A report joins
-- them to pool_days on (pk, t), so that a reading holds for the same hours as that snapshot's node counts (the
-- integration rule above): time-weighted exactly as node-hours are. A snapshot without a reading of the pool
-- (collect.runtime_metrics off, the call failed, the pool missing from the answer) has no row: its held hours
-- carry no allocation.
--   pk, t                        as pool_days
--   cap_cards, alloc_cards, free_cards   DOUBLE  accelerator cards (every key of unit cards): capacity, allocated,
--                                                available; NULL without accelerator keys
--   cap_cores, alloc_cores, free_cores   DOUBLE  the same for cpu, in cores
--   cap_bytes, alloc_bytes               DOUBLE  the same for memory, in bytes
--   queued                       BIGINT  workloads queued for resources (every type); NULL without a queue reading
--   pressure                     BOOLEAN queued > 0 and no free capacity: no available card on an accelerator pool,
--                                        less than one free core on a CPU-only pool
CREATE OR REPLACE TEMP MACRO pool_readings(from_day, to_day, period_hours) AS TABLE
WITH alloc AS (
    SELECT pool_key(region, project_id, pool_id) AS pk, epoch(snapshot_at) AS t,
           sum(capacity) FILTER (WHERE unit = 'cards') AS cap_cards,
           sum(allocated) FILTER (WHERE unit = 'cards') AS alloc_cards,
           sum(available) FILTER (WHERE unit = 'cards') AS free_cards,
           sum(capacity) FILTER (WHERE resource = 'cpu') AS cap_cores,
           sum(allocated) FILTER (WHERE resource = 'cpu') AS alloc_cores,
           sum(available) FILTER (WHERE resource = 'cpu') AS free_cores,
           sum(capacity) FILTER (WHERE resource = 'memory') AS cap_bytes,
           sum(allocated) FILTER (WHERE resource = 'memory') AS alloc_bytes
    FROM pool_allocation
    WHERE snapshot_day BETWEEN report_lo_day(from_day, period_hours) AND to_day::DATE
    GROUP BY ALL
),
queue AS (
    SELECT pool_key(region, project_id, pool_id) AS pk, epoch(snapshot_at) AS t, sum(queued) AS queued
    FROM pool_workload_counts
    WHERE snapshot_day BETWEEN report_lo_day(from_day, period_hours) AND to_day::DATE
    GROUP BY ALL
)
SELECT coalesce(a.pk, q.pk) AS pk, coalesce(a.t, q.t) AS t, a.* EXCLUDE (pk, t), q.queued,
       coalesce(q.queued > 0 AND CASE WHEN a.cap_cards > 0 THEN coalesce(a.free_cards, 0) < 1
                                      ELSE coalesce(a.free_cores, 0) < 1 END, false) AS pressure
FROM alloc AS a
FULL JOIN queue AS q USING (pk, t);

-- pool_util_hours(from_day, to_day) -> TABLE, one row per pool x hour of [from_day, to_day] with a measured
-- accelerator point (pool_metrics: gpuUtil or npuUtil at period 3600; a -1 point is no data and not here):
--   pk, d, t       the pool, the UTC day (days since 1970-01-01) and the hour's start (epoch seconds)
--   util_avg       DOUBLE  the hour's average accelerator utilization, percent (mean of gpuUtil and npuUtil
--                          when a pool reports both)
--   util_max       DOUBLE  the hour's maximum, percent
CREATE OR REPLACE TEMP MACRO pool_util_hours(from_day, to_day) AS TABLE
SELECT pool_key(region, project_id, pool_id) AS pk,
       floor(epoch(measured_at) / 86400)::BIGINT AS d, epoch(measured_at) AS t,
       avg(value) FILTER (WHERE statistic = 'average') AS util_avg,
       max(value) FILTER (WHERE statistic = 'maximum') AS util_max
FROM pool_metrics
WHERE metric IN ('gpuUtil', 'npuUtil') AND value IS NOT NULL AND period_s = 3600
  AND epoch(measured_at) >= (from_day::DATE - DATE '1970-01-01') * 86400
  AND epoch(measured_at) < (to_day::DATE - DATE '1970-01-01' + 1) * 86400
GROUP BY ALL;
