-- Table billing_modes: pools, provisioned nodes and node-hours per UTC day, region, project, billing mode and
-- period type. BASIS: the billing mode is the pool's os.modelarts/billing.mode annotation at each observation
-- (pay_per_use "0", yearly_monthly "1", anything else or absent: unknown, an explicit bucket that every
-- day x project row set has, with zeros when empty; so are pay_per_use and yearly_monthly). Nodes are counted
-- per state by the API (status.resources), not jobs: provisioned, never usage. nodes and node_hours count
-- PHYSICAL pools only (pools.is_physical), because a Logical sub-pool's nodes are part of its root pool's and
-- would be counted twice; sub-pools are only counted, in logical_pools. node_hours follow the integration
-- rule of capacity_utilization: each snapshot's counts hold until the pool's next observation, for at most
-- 2 x $period_hours, the rest is gap_hours (never filled); split at UTC midnight; a pool missing from a
-- successful unfiltered listing has 0 nodes from then on. A pool whose billing mode changes during a day
-- counts in both buckets, its node-hours split at the observation where the change was seen. Estimated cost
-- (when a price file is loaded): node-hours x the price of the flavor under the bucket's billing mode; an
-- estimate, not a bill. Only days in [$from_day, $to_day] with at least one snapshot have rows.
-- Parameters: $from_day DATE, $to_day DATE (inclusive), $period_hours DOUBLE (the schedule period).
--
-- column               type         meaning
-- day                  DATE         UTC day
-- region               VARCHAR      region
-- project_id           VARCHAR      IAM project id
-- project_name         VARCHAR      the project's IAM name (table projects, latest up to $to_day); NULL when
--                                   IAM was not read
-- billing_mode         VARCHAR      pay_per_use | yearly_monthly | unknown (annotation absent or another value)
-- period_type          VARCHAR      month | year | hour | unknown (annotation present, other value) | NULL
--                                   (annotation absent, as for pay_per_use pools)
-- pools                INTEGER      distinct physical pools observed that day (a snapshot of the day returned
--                                   them) with this billing mode and period type
-- logical_pools        INTEGER      distinct Logical sub-pools observed that day in this bucket (their nodes
--                                   are in their root pool's row: not in nodes or node_hours)
-- nodes                INTEGER      provisioned nodes (creating + available + abnormal + deleting) of the
--                                   physical pools at each one's last observation of the day, in the bucket of
--                                   that observation; 0 for a pool whose last observation of the day found it gone
-- node_hours           DOUBLE       provisioned node-hours of the physical pools credited to the day
-- carried_hours        DOUBLE       pool-hours of the day credited with counts carried forward past one schedule
--                                   period (the next snapshot did not observe the pool), physical pools; their
--                                   node-hours are in node_hours, estimated rather than seen
-- gap_hours            DOUBLE       pool-hours of the day in a gap (beyond the cap, unobserved), physical pools
-- has_gap              BOOLEAN      gap_hours > 0: node_hours of this row are incomplete
-- estimated_cost       DOUBLE       ESTIMATED: node-hours x price_per_node_hour from the price file, matched on
--                                   flavor and billing mode; NULL when no price file is loaded or nothing matched
-- currency             VARCHAR      currency of estimated_cost; NULL when estimated_cost is NULL
-- unpriced_node_hours  DOUBLE       node-hours with no matching price (not in estimated_cost); NULL when no price
--                                   file is loaded
-- note                 VARCHAR      what the bucket holds when it is not plain: on unknown rows, how many
--                                   physical pools had no readable billing annotation and how many Logical
--                                   sub-pools are listed (they bill through their parent pool, whose bucket has
--                                   their nodes); NULL otherwise
WITH obs_days AS (
    SELECT *, coalesce(period_type, '') AS pt FROM pool_days($from_day, $to_day, $period_hours)
),
-- the pools' region and project (at their latest observation in the window, or before it)
attributes AS (
    SELECT coalesce(a.pk, b.pk) AS pk,
           coalesce(a.region, b.before.region) AS region,
           coalesce(a.project_id, b.before.project_id) AS project_id
    FROM pool_places($from_day, $to_day, $period_hours) AS a
    FULL JOIN (SELECT DISTINCT pk, before FROM obs_days WHERE before IS NOT NULL) AS b USING (pk)
    WHERE CASE WHEN a.pk2 <> b.before.pk2
               THEN error('billing_modes: two pools share a pool_key; report this bug') ELSE true END
),
capacity AS (
    SELECT pool_key(region, project_id, pool_id) AS pk, epoch(snapshot_at) AS t, flavor, count
    FROM pool_capacity
    WHERE snapshot_day BETWEEN report_lo_day($from_day, $period_hours) AND $to_day::DATE
      AND state IN ('creating', 'available', 'abnormal', 'deleting')
),
has_prices AS (
    SELECT count(*) > 0 AS loaded FROM prices
),
-- each pool's last observation made on each day (the one `nodes` counts), and whether the pool was then seen
-- gone before midnight
last_seen AS (
    SELECT d, pk, max(t) AS last_t,
           arg_max(next_absent AND next_obs < (d + 1) * 86400::DOUBLE, t) AS gone_by_midnight
    FROM obs_days
    WHERE d = floor(t / 86400) AND is_physical
    GROUP BY d, pk
),
-- one row per day x pool x bucket: was it observed in that bucket that day, and its gap hours
per_pool AS (
    SELECT d, pk, billing_mode, pt,
           bool_or(d = floor(t / 86400)) AS seen,
           bool_and(is_physical) AS is_physical,
           sum(carried_hours) AS carried_hours,
           sum(gap_hours) AS gap_hours
    FROM obs_days
    GROUP BY d, pk, billing_mode, pt
),
-- node-hours (and nodes at the last observation of the day) of the physical pools
per_pool_nodes AS (
    SELECT o.d, o.pk, o.billing_mode, o.pt,
           sum(o.held_hours * c.count) AS node_hours,
           sum(c.count) FILTER (WHERE o.t = l.last_t AND NOT l.gone_by_midnight) AS nodes,
           sum(o.held_hours * c.count * p.price_per_node_hour) AS estimated_cost,
           any_value(p.currency) AS currency,
           sum(o.held_hours * c.count) FILTER (WHERE p.price_per_node_hour IS NULL) AS unpriced_node_hours
    FROM obs_days AS o
    JOIN capacity AS c USING (pk, t)
    LEFT JOIN last_seen AS l USING (d, pk)
    LEFT JOIN prices AS p ON p.flavor = c.flavor AND p.billing_mode = o.billing_mode
    WHERE o.is_physical AND o.held_hours > 0
    GROUP BY o.d, o.pk, o.billing_mode, o.pt
),
buckets AS (
    SELECT p.d, a.region, a.project_id, p.billing_mode, p.pt,
           count(*) FILTER (WHERE p.seen AND p.is_physical) AS pools,
           count(*) FILTER (WHERE p.seen AND NOT p.is_physical) AS logical_pools,
           coalesce(sum(n.nodes) FILTER (WHERE p.is_physical), 0) AS nodes,
           coalesce(sum(n.node_hours) FILTER (WHERE p.is_physical), 0) AS node_hours,
           coalesce(sum(p.carried_hours) FILTER (WHERE p.is_physical), 0) AS carried_hours,
           coalesce(sum(p.gap_hours) FILTER (WHERE p.is_physical), 0) AS gap_hours,
           sum(n.estimated_cost) FILTER (WHERE p.is_physical) AS estimated_cost,
           any_value(n.currency) FILTER (WHERE p.is_physical AND n.estimated_cost IS NOT NULL) AS currency,
           sum(n.unpriced_node_hours) FILTER (WHERE p.is_physical) AS unpriced_node_hours
    FROM per_pool AS p
    LEFT JOIN per_pool_nodes AS n USING (d, pk, billing_mode, pt)
    JOIN attributes AS a USING (pk)
    GROUP BY p.d, a.region, a.project_id, p.billing_mode, p.pt
),
-- every day x project with rows gets all three billing modes, an empty one as a zero row (period type NULL)
empty_buckets AS (
    SELECT x.d, x.region, x.project_id, m.billing_mode, '' AS pt,
           0 AS pools, 0 AS logical_pools, 0 AS nodes, 0.0 AS node_hours, 0.0 AS carried_hours,
           0.0 AS gap_hours,
           NULL::DOUBLE AS estimated_cost, NULL::VARCHAR AS currency, NULL::DOUBLE AS unpriced_node_hours
    FROM (SELECT DISTINCT d, region, project_id FROM buckets) AS x
    CROSS JOIN (VALUES ('pay_per_use'), ('yearly_monthly'), ('unknown')) AS m(billing_mode)
    WHERE NOT EXISTS (SELECT 1 FROM buckets AS b
                      WHERE b.d = x.d AND b.region = x.region AND b.project_id = x.project_id
                        AND b.billing_mode = m.billing_mode)
)
SELECT DATE '1970-01-01' + d::INTEGER AS day, region, project_id, pn.project_name, billing_mode,
       nullif(pt, '') AS period_type,
       pools::INTEGER AS pools,
       logical_pools::INTEGER AS logical_pools,
       nodes::INTEGER AS nodes,
       node_hours::DOUBLE AS node_hours,
       carried_hours::DOUBLE AS carried_hours,
       gap_hours::DOUBLE AS gap_hours,
       gap_hours > 0 AS has_gap,
       estimated_cost::DOUBLE AS estimated_cost,
       CASE WHEN estimated_cost IS NOT NULL THEN currency END AS currency,
       CASE WHEN (SELECT loaded FROM has_prices) THEN coalesce(unpriced_node_hours, 0) END::DOUBLE
           AS unpriced_node_hours,
       CASE WHEN billing_mode = 'unknown' AND pools + logical_pools > 0 THEN
           concat_ws('; ',
               CASE WHEN pools > 0 THEN pools || ' physical pool(s) without a readable billing annotation '
                                        || '(os.modelarts/billing.mode): their nodes are counted here' END,
               CASE WHEN logical_pools > 0 THEN logical_pools || ' Logical sub-pool(s): they bill through their '
                                                || 'parent pool, whose bucket holds their nodes' END)
       END AS note
FROM (SELECT * FROM buckets UNION ALL SELECT * FROM empty_buckets)
LEFT JOIN project_names($to_day) AS pn USING (region, project_id)
ORDER BY d, region, project_id,
         CASE billing_mode WHEN 'pay_per_use' THEN 1 WHEN 'yearly_monthly' THEN 2 ELSE 3 END, period_type NULLS FIRST
