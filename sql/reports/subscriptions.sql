-- Table subscriptions: every yearly/monthly pool, as of its latest observation in the range, with an ESTIMATED
-- expiry, soonest first, so finance sees what lapses next. BASIS: the ModelArts API gives NO expiry date;
-- it gives only the billing mode, order id, period type, period count and auto-renew flag (pool annotations).
-- A TERM is a stretch of observations with the same order id, period type and period count, all yearly/monthly;
-- the report reads the pool's current term. Its start is the pool's created_at (metadata.creationTimestamp)
-- when every observation of the pool in the lake belongs to it; when the pool was seen before with another
-- billing mode, or with another order or period (a new order: renewal, resize, conversion), the start is the
-- first snapshot of the current term (the change happened between that snapshot and the one before it, so the
-- true start can be up to one schedule period earlier). A term longer than 5 years is implausible for ModelArts
-- (the console sells up to 3 years): it is flagged, and no expiry is estimated from it.
-- estimated_expiry = start + period_num x period_type; if auto-renew is on and that is not after the reference time, it is rolled forward by whole periods (one month
-- or one year at a time; the renewal length the customer chose is not in the API) until it is. Pools seen gone
-- (missing from a later successful unfiltered listing, or show_pool 404) by the cutoff are left out.
-- Observations read: snapshot_at from $from_day 00:00 UTC to $as_of when given, else to the end of $to_day.
-- days_to_expiry counts from $as_of, else from the latest snapshot_at in that window.
-- Parameters: $from_day DATE, $to_day DATE (inclusive), $period_hours DOUBLE (unused), $as_of TIMESTAMPTZ or
-- NULL.
--
-- column               type         meaning
-- region               VARCHAR      region
-- project_id           VARCHAR      IAM project id
-- project_name         VARCHAR      the project's IAM name (table projects, latest up to the cutoff); NULL when
--                                   IAM was not read
-- pool_id              VARCHAR      pool id
-- display_name         VARCHAR      display name at the latest observation
-- pool_type            VARCHAR      Dedicate | Logical at the latest observation
-- order_id             VARCHAR      CBC order id (os.modelarts/order.id)
-- period_type          VARCHAR      month | year | hour | unknown | NULL (os.modelarts/period.type)
-- period_num           INTEGER      periods bought (os.modelarts/period.num)
-- auto_renew           BOOLEAN      auto-renew on (os.modelarts/auto.renew); NULL when absent or unreadable
-- created_at           TIMESTAMPTZ  pool creation time (metadata.creationTimestamp)
-- subscribed_at        TIMESTAMPTZ  best available subscription start (see subscribed_at_basis)
-- subscribed_at_basis  VARCHAR      created_at (every observation in the current term) | new_order_first_seen
--                                   (the first snapshot that saw the current order id / period after another one,
--                                   all yearly/monthly) | first_seen_yearly_monthly (the first snapshot that saw it
--                                   yearly/monthly after another billing mode, or when created_at is missing)
-- implausible_term     BOOLEAN      period_num x period type is over 5 years: flagged, estimated_expiry and
--                                   days_to_expiry are NULL
-- estimated_expiry     TIMESTAMPTZ  ESTIMATE: subscribed_at + period_num x period, rolled forward by whole
--                                   periods while auto_renew is true and it is not after reference_at; NULL when
--                                   the period type or count is unknown, or the term implausible
-- renewals_assumed     INTEGER      whole periods added by the auto-renew roll-forward (0 when none)
-- days_to_expiry       INTEGER      UTC days from reference_at's day to estimated_expiry's day; negative: the
--                                   estimate is past (lapsed, or renewed by hand)
-- reference_at         TIMESTAMPTZ  $as_of, else the latest snapshot_at in the window
-- last_observed_at     TIMESTAMPTZ  snapshot_at of the pool's latest observation in the window
-- expiry_basis         VARCHAR      the estimate in words: start and its basis, period, roll-forward, caveats
WITH win AS (
    SELECT epoch($from_day::DATE::TIMESTAMP) AS lo,
           coalesce(epoch($as_of::TIMESTAMPTZ), epoch(($to_day::DATE + 1)::TIMESTAMP) - 1e-6) AS hi,
           coalesce($as_of::TIMESTAMPTZ::DATE, $to_day::DATE) + 1 AS hi_day
),
-- billing mode history of every pool up to the cutoff (narrow: the start may lie before the range)
history AS (
    SELECT pool_key(region, project_id, pool_id) AS pk, epoch(snapshot_at) AS t,
           billing_mode = 'yearly_monthly' AS ym,
           hash(order_id, period_type, period_num) AS terms
    FROM pools
    WHERE snapshot_day <= (SELECT hi_day FROM win)
      AND epoch(snapshot_at) <= (SELECT hi FROM win)
),
-- each pool's latest observation in the range, all of it
latest AS (
    SELECT pool_key(region, project_id, pool_id) AS pk,
           max(epoch(snapshot_at)) AS last_t,
           arg_max({'ym': billing_mode = 'yearly_monthly', 'region': region, 'project_id': project_id,
                    'pool_id': pool_id, 'workspace_id': workspace_id, 'display_name': display_name,
                    'pool_type': pool_type, 'order_id': order_id, 'period_type': period_type,
                    'period_num': period_num, 'auto_renew': auto_renew, 'created_at': created_at}, snapshot_at)
               AS last,
           count(DISTINCT pool_key2(region, project_id, pool_id)) AS identities
    FROM pools
    WHERE snapshot_day BETWEEN $from_day::DATE AND (SELECT hi_day FROM win)
      AND epoch(snapshot_at) BETWEEN (SELECT lo FROM win) AND (SELECT hi FROM win)
    GROUP BY pk
),
current AS (
    SELECT l.pk, l.last_t, h.last_other_mode, h.last_other_order, h.first_t,
           CASE WHEN l.identities = 1 THEN l.last
                ELSE error('subscriptions: two pools share a pool_key; report this bug') END AS checked
    FROM latest AS l
    JOIN (
        -- the latest observation outside the current term: in another billing mode, or yearly/monthly under
        -- another order or period
        SELECT h.pk,
               max(h.t) FILTER (WHERE NOT h.ym) AS last_other_mode,
               max(h.t) FILTER (WHERE h.ym AND h.terms <> hash(x.last.order_id, x.last.period_type,
                                                               x.last.period_num)) AS last_other_order,
               min(h.t) AS first_t
        FROM history AS h
        JOIN latest AS x USING (pk)
        GROUP BY h.pk
    ) AS h USING (pk)
    WHERE l.last.ym
),
-- pools shown gone after their latest observation, by the cutoff: a successful unfiltered listing of their
-- project (and workspace) without them, or a show_pool 404
gone AS (
    SELECT DISTINCT c.pk
    FROM current AS c
    JOIN report_evidence((SELECT hi_day FROM win)) AS e
      ON e.t > c.last_t AND e.t <= (SELECT hi FROM win)
     AND ((e.kind = 'listing' AND e.key IN (hash(c.checked.region, c.checked.project_id, ''),
                                            hash(c.checked.region, c.checked.project_id,
                                                 coalesce(c.checked.workspace_id, '0'))))
          OR (e.kind = 'gone' AND e.key = c.pk))
),
-- when the current term began: the first observation after the last one outside it
restarted AS (
    SELECT c.pk, min(o.t) AS first_term_t
    FROM current AS c
    JOIN history AS o ON o.pk = c.pk AND o.t > greatest(c.last_other_mode, c.last_other_order)
    GROUP BY c.pk
),
ref AS (
    SELECT coalesce($as_of::TIMESTAMPTZ, max(snapshot_at)) AS reference_at
    FROM snapshots
    WHERE snapshot_day BETWEEN $from_day::DATE AND (SELECT hi_day FROM win)
      AND epoch(snapshot_at) BETWEEN (SELECT lo FROM win) AND (SELECT hi FROM win)
),
started AS (
    SELECT c.pk, c.last_t, c.checked AS cur,
           CASE WHEN r.pk IS NULL AND c.checked.created_at IS NOT NULL THEN c.checked.created_at
                WHEN r.pk IS NULL THEN to_timestamp(c.first_t)
                ELSE to_timestamp(r.first_term_t) END AS subscribed_at,
           CASE WHEN r.pk IS NULL AND c.checked.created_at IS NOT NULL THEN 'created_at'
                -- the newer of the two ended the previous term: a mode switch, or a new order
                WHEN r.pk IS NOT NULL AND coalesce(c.last_other_order, '-infinity'::DOUBLE)
                                          > coalesce(c.last_other_mode, '-infinity'::DOUBLE)
                    THEN 'new_order_first_seen'
                ELSE 'first_seen_yearly_monthly' END AS subscribed_at_basis,
           CASE c.checked.period_type WHEN 'month' THEN 1 WHEN 'year' THEN 12 END AS unit_months,
           c.checked.period_type = 'hour' AS hourly,
           (SELECT reference_at FROM ref) AS reference_at
    FROM current AS c
    LEFT JOIN restarted AS r USING (pk)
    WHERE c.pk NOT IN (SELECT pk FROM gone)
),
-- naive UTC timestamps for the calendar arithmetic (month lengths), whatever the session time zone
naive AS (
    SELECT *,
           timezone('UTC', subscribed_at) AS start_utc,
           timezone('UTC', reference_at) AS ref_utc,
           cur.period_num AS n,
           -- over 5 years: 60 months, or 5 x 8,784 hours
           coalesce(cur.period_num * unit_months > 60 OR (hourly AND cur.period_num > 43920), false) AS implausible
    FROM started
),
term AS (
    SELECT *,
           CASE WHEN n IS NULL OR n < 1 OR implausible THEN NULL
                WHEN unit_months IS NOT NULL THEN start_utc + to_months((n * unit_months)::INTEGER)
                WHEN hourly THEN start_utc + to_hours(n::BIGINT)
           END AS first_expiry,
           -- the smallest whole number of periods >= n that ends after the reference time
           CASE WHEN unit_months IS NOT NULL
                THEN greatest(n, datediff('month', start_utc, ref_utc) // unit_months)
                WHEN hourly
                THEN greatest(n, floor((epoch(ref_utc) - epoch(start_utc)) / 3600)::BIGINT)
           END AS c0
    FROM naive
),
rolled AS (
    SELECT *,
           CASE WHEN first_expiry IS NULL THEN NULL
                WHEN NOT coalesce(cur.auto_renew, false) OR first_expiry > ref_utc THEN n
                WHEN unit_months IS NOT NULL THEN
                    CASE WHEN start_utc + to_months((c0 * unit_months)::INTEGER) > ref_utc THEN c0
                         WHEN start_utc + to_months(((c0 + 1) * unit_months)::INTEGER) > ref_utc THEN c0 + 1
                         ELSE c0 + 2 END
                ELSE
                    CASE WHEN start_utc + to_hours(c0::BIGINT) > ref_utc THEN c0 ELSE c0 + 1 END
           END AS periods
    FROM term
),
expiry AS (
    SELECT *,
           CASE WHEN periods IS NULL THEN NULL
                WHEN unit_months IS NOT NULL THEN start_utc + to_months((periods * unit_months)::INTEGER)
                ELSE start_utc + to_hours(periods::BIGINT)
           END AS expiry_utc
    FROM rolled
)
SELECT cur.region AS region, cur.project_id AS project_id, pn.project_name, cur.pool_id AS pool_id,
       cur.display_name AS display_name, cur.pool_type AS pool_type, cur.order_id AS order_id,
       cur.period_type AS period_type, cur.period_num AS period_num, cur.auto_renew AS auto_renew,
       cur.created_at AS created_at, subscribed_at, subscribed_at_basis, implausible AS implausible_term,
       timezone('UTC', expiry_utc) AS estimated_expiry,
       (periods - n)::INTEGER AS renewals_assumed,
       (expiry_utc::DATE - ref_utc::DATE)::INTEGER AS days_to_expiry,
       reference_at,
       to_timestamp(last_t) AS last_observed_at,
       'ESTIMATE, the API gives no expiry date: start ' || strftime(start_utc, '%Y-%m-%d %H:%M UTC') || ' ('
           || CASE subscribed_at_basis
                  WHEN 'created_at' THEN 'created_at; the same yearly/monthly order in every observation'
                  WHEN 'new_order_first_seen' THEN 'first snapshot seeing order ' || coalesce(cur.order_id, 'absent')
                      || ' / ' || coalesce(cur.period_num::VARCHAR, '?') || ' ' || coalesce(cur.period_type, '?')
                      || '(s): a new order; it may have begun up to one period earlier'
                  ELSE 'first snapshot seeing it yearly/monthly; the switch may be up to one period earlier' END
           || ')'
           || CASE
                  WHEN implausible THEN
                      '; NOT ESTIMATED: a term of ' || cur.period_num || ' ' || cur.period_type
                      || '(s) is over 5 years, implausible; check the order in the billing center'
                  WHEN expiry_utc IS NULL THEN
                      '; no estimate: period type ' || coalesce(cur.period_type, 'absent') || ', period count '
                      || coalesce(cur.period_num::VARCHAR, 'absent')
                  ELSE ' + ' || n || ' ' || cur.period_type || '(s) = ' || strftime(first_expiry, '%Y-%m-%d %H:%M UTC')
                       || CASE WHEN periods > n
                               THEN '; auto-renew on and that is past ' || strftime(ref_utc, '%Y-%m-%d %H:%M UTC')
                                    || ': rolled forward by ' || (periods - n) || ' whole ' || cur.period_type
                                    || '(s) (renewal length assumed one ' || cur.period_type || ')'
                               WHEN coalesce(cur.auto_renew, false) THEN '; auto-renew on'
                               WHEN cur.auto_renew IS NULL THEN '; auto-renew unknown: not rolled forward'
                               ELSE '; auto-renew off: lapses then unless renewed by hand' END
              END AS expiry_basis
FROM expiry
LEFT JOIN project_names((SELECT hi_day FROM win)) AS pn
       ON pn.region = expiry.cur.region AND pn.project_id = expiry.cur.project_id
ORDER BY estimated_expiry NULLS LAST, region, project_id, pool_id
