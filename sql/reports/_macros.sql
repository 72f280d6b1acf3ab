-- Non-table step: the macros shared by the reports (capacity_utilization, billing_modes, subscriptions).
-- pipeline/lake/reports.py runs this file as TEMP MACROs on the report connection before a report's SELECT,
-- so it works on a read-only catalog connection and writes nothing. Times are worked in epoch seconds
-- (DOUBLE), so nothing depends on the session's TimeZone: every day is a UTC day.
--
-- THE INTEGRATION RULE (how snapshots become node-hours):
--   * An observation of a pool is a snapshot that tells us its state:
--       present  the pool has a row in `pools` in that snapshot (from a list_pools or a show_pool call);
--       absent   the pool has no row, and the snapshot holds a successful listing that would have returned
--                it: a list_pools target of the pool's region and project, every call of it ok, with no
--                label_selector and no status_filter, and with no workspace_id or the pool's workspace_id
--                (its last known one, "0" when unlabelled); or a show_pool call for the pool answered
--                404 ModelArts.50015001 (pool not found).
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

-- pool_observations(from_day, to_day, period_hours) -> TABLE, one row per present observation of a pool that
-- can credit a day in [from_day, to_day] (snapshot_at from from_day - cap to the end of to_day, plus each
-- pool's latest observation before that, for the gap it may open into the range):
--   pk           UBIGINT  hash(region, project_id, pool_id): a compact pool key for the big joins and
--                         groupings of the reports (which check that no two pools share one)
--   region, project_id, pool_id, snapshot_id   the observation (snapshot_id joins its pool_* rows)
--   t            DOUBLE   epoch seconds of its snapshot_at
--   held_end     DOUBLE   min(next_obs, t + cap): the counts hold over [t, held_end)
--   next_obs     DOUBLE   the pool's next observation (present or absent), else the horizon (last snapshot_at
--                         + period_hours), bounded by the end of to_day; [held_end, next_obs) is a gap
--   next_absent  BOOLEAN  the next observation (before the horizon and the end of to_day) found the pool gone
--   display_name, workspace_id, pool_type, is_physical, parent, root, billing_mode, period_type: as in `pools`
CREATE OR REPLACE TEMP MACRO pool_observations(from_day, to_day, period_hours) AS TABLE
WITH k AS (
    SELECT 2 * 3600 * period_hours::DOUBLE AS cap,
           (from_day::DATE - DATE '1970-01-01') * 86400 - 2 * 3600 * period_hours::DOUBLE AS w_start,
           ((to_day::DATE - DATE '1970-01-01') + 1) * 86400.0 AS w_end,
           (SELECT max(epoch(snapshot_at)) FROM snapshots) + 3600 * period_hours::DOUBLE AS horizon
),
rows_in AS (
    SELECT region, project_id, pool_id, snapshot_id, epoch(snapshot_at) AS t,
           display_name, workspace_id, pool_type, is_physical, parent, root, billing_mode, period_type
    FROM pools
    WHERE snapshot_day BETWEEN report_lo_day(from_day, period_hours) AND to_day::DATE
      AND epoch(snapshot_at) >= (SELECT w_start FROM k)
),
rows_before AS (
    -- each pool's latest observation before the window (usually none: the range starts with the lake)
    SELECT region, project_id, pool_id, snapshot_id, epoch(snapshot_at) AS t,
           display_name, workspace_id, pool_type, is_physical, parent, root, billing_mode, period_type
    FROM pools
    WHERE snapshot_day <= report_lo_day(from_day, period_hours)
      AND epoch(snapshot_at) < (SELECT w_start FROM k)
    QUALIFY row_number() OVER (PARTITION BY region, project_id, pool_id ORDER BY snapshot_at DESC) = 1
),
present AS (
    SELECT * FROM rows_in
    UNION ALL
    SELECT * FROM rows_before
),
calls AS (
    SELECT region, project_id, pool_id, call, endpoint, workspace_id, label_selector, status_filter, outcome,
           http_status, error_code, epoch(snapshot_at) AS t
    FROM fetches
    WHERE snapshot_day <= to_day::DATE AND call IN ('list_pools', 'show_pool')
),
-- listings that can show a pool's absence: every call of the target ok, no label or status filter.
-- ws = '' when the listing had no workspace filter (it saw every workspace), else the workspace.
listings AS (
    SELECT region, project_id, coalesce(workspace_id, '') AS ws, t
    FROM calls
    WHERE call = 'list_pools' AND label_selector IS NULL AND status_filter IS NULL
    GROUP BY region, project_id, endpoint, workspace_id, t
    HAVING bool_and(outcome = 'ok')
),
listing_sets AS (
    SELECT DISTINCT region, project_id, ws FROM listings
),
-- show_pool answered 404 ModelArts.50015001 "pool not found": that pool is absent at t
gone AS (
    SELECT DISTINCT region, project_id, pool_id, t
    FROM calls
    WHERE call = 'show_pool' AND http_status = 404 AND error_code = 'ModelArts.50015001'
),
query_times AS (
    SELECT DISTINCT epoch(snapshot_at) AS t
    FROM snapshots
    WHERE snapshot_day BETWEEN report_lo_day(from_day, period_hours) AND to_day::DATE
    UNION
    SELECT t FROM rows_before
),
-- for every listing set and snapshot time: is there a listing at that time, and when is the next one
grid AS (
    SELECT q.region, q.project_id, q.ws, q.t, l.t AS next_listing, x.t IS NOT NULL AS listed
    FROM (SELECT * FROM listing_sets CROSS JOIN query_times) AS q
    ASOF LEFT JOIN listings AS l ON l.region = q.region AND l.project_id = q.project_id AND l.ws = q.ws AND l.t > q.t
    LEFT JOIN listings AS x ON x.region = q.region AND x.project_id = q.project_id AND x.ws = q.ws AND x.t = q.t
),
matched AS (
    SELECT p.*,
           least(ga.next_listing, gw.next_listing) AS next_listing,
           coalesce(ga.listed, false) OR coalesce(gw.listed, false) AS covered
    FROM present AS p
    LEFT JOIN grid AS ga ON ga.region = p.region AND ga.project_id = p.project_id AND ga.ws = '' AND ga.t = p.t
    LEFT JOIN grid AS gw ON gw.region = p.region AND gw.project_id = p.project_id
                        AND gw.ws = coalesce(p.workspace_id, '0') AND gw.t = p.t
),
-- pools seen outside a covering listing (show_pool, filtered listings) or answered 404: only these need
-- their own next event (a pool seen only in covering listings is next observed at the next listing)
special AS (
    SELECT region, project_id, pool_id FROM matched WHERE NOT covered
    UNION
    SELECT region, project_id, pool_id FROM gone
),
special_next AS (
    SELECT region, project_id, pool_id, t, next_t, next_kind
    FROM (
        SELECT region, project_id, pool_id, t, kind,
               lead(t) OVER w AS next_t, lead(kind) OVER w AS next_kind
        FROM (
            SELECT m.region, m.project_id, m.pool_id, m.t, 'present' AS kind
            FROM matched AS m SEMI JOIN special AS s USING (region, project_id, pool_id)
            UNION ALL
            SELECT region, project_id, pool_id, t, 'absent' AS kind FROM gone
        )
        WINDOW w AS (PARTITION BY region, project_id, pool_id ORDER BY t, kind DESC)
    )
    WHERE kind = 'present'
),
nexts AS (
    SELECT m.*, sn.next_t, sn.next_kind,
           least(m.next_listing, sn.next_t, k.horizon, k.w_end) AS next_obs,
           k.cap, k.horizon, k.w_end
    FROM matched AS m
    LEFT JOIN special_next AS sn USING (region, project_id, pool_id, t)
    CROSS JOIN k
)
SELECT hash(region, project_id, pool_id) AS pk,
       region, project_id, pool_id, snapshot_id, t,
       least(next_obs, t + cap) AS held_end,
       next_obs,
       next_obs < least(horizon, w_end)
           AND (next_kind = 'absent' OR next_listing < coalesce(next_t, 'infinity'::DOUBLE)) AS next_absent,
       display_name, workspace_id, pool_type, is_physical, parent, root, billing_mode, period_type
FROM nexts
WHERE next_obs > t;

-- report_days(from_day, to_day) -> TABLE (d): the days in [from_day, to_day] with at least one snapshot, as
-- day numbers (days since 1970-01-01; DATE '1970-01-01' + d is the day). Only these days get report rows.
CREATE OR REPLACE TEMP MACRO report_days(from_day, to_day) AS TABLE
    SELECT DISTINCT (snapshot_day - DATE '1970-01-01') AS d
    FROM snapshots
    WHERE snapshot_day BETWEEN from_day::DATE AND to_day::DATE;

-- Splitting an observation at UTC midnights: for day number d (see report_days), the hours of [t, held_end)
-- (held: the counts hold) and of [held_end, next_obs) (gap) that fall within the day. An observation spans the
-- days range(first_day(t), end_day(next_obs)).
CREATE OR REPLACE TEMP MACRO first_day(t) AS floor(t / 86400)::BIGINT;
CREATE OR REPLACE TEMP MACRO end_day(t) AS ceil(t / 86400)::BIGINT;
CREATE OR REPLACE TEMP MACRO held_in_day(t, held_end, d) AS
    greatest(0, least(held_end, (d + 1) * 86400::DOUBLE) - greatest(t, d * 86400::DOUBLE)) / 3600;
CREATE OR REPLACE TEMP MACRO gap_in_day(held_end, next_obs, d) AS
    greatest(0, least(next_obs, (d + 1) * 86400::DOUBLE) - greatest(held_end, d * 86400::DOUBLE)) / 3600;
