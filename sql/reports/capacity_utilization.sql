-- Table capacity_utilization: provisioned node-hours per UTC day, region, project, pool and flavor, with
-- rollups per pool, project, region and all. BASIS: the ModelArts API counts nodes per state
-- (status.resources), not jobs, so this is provisioned capacity, never usage. Each snapshot's counts hold
-- from its snapshot_at until the pool's next observation (the next snapshot whose listing of the pool's
-- project succeeded and so showed the pool or its absence, or an ok show_pool of it), for at most
-- 2 x $period_hours; time beyond that cap, and beyond the cap after the pool's last observation up to the
-- data horizon (last snapshot + $period_hours), is a gap: counted in gap_hours, flagged in has_gap, never
-- filled. A pool missing from a successful unfiltered listing has 0 nodes from then on. Intervals are split
-- at UTC midnight. Rollups (project, region, all) sum PHYSICAL pools only (pools.is_physical): a Logical
-- sub-pool's nodes are part of its root pool's nodes. Only days in [$from_day, $to_day] with at least one
-- snapshot have rows. Estimated cost (when a price file is loaded): provisioned node-hours x the price of
-- the flavor under the pool's billing mode at each snapshot; an estimate, not a bill.
-- Parameters: $from_day DATE, $to_day DATE (inclusive), $period_hours DOUBLE (the schedule period).
--
-- column                        type         meaning
-- day                           DATE         UTC day the node-hours are credited to
-- level                         VARCHAR      flavor (the finest grain: one pool x flavor) | pool (a pool, all its
--                                            flavors) | project | region | all (rollups of PHYSICAL pools only)
-- region                        VARCHAR      region; NULL on level all
-- project_id                    VARCHAR      IAM project id; NULL on levels region and all
-- project_name                  VARCHAR      the project's IAM name (table projects, latest up to $to_day); NULL
--                                            when IAM was not read, and on levels region and all
-- pool_id                       VARCHAR      pool id; NULL on levels project, region and all
-- flavor                        VARCHAR      resource flavor; NULL on every level but flavor
-- accelerator                   VARCHAR      gpu | npu | NULL (CPU-only or unknown flavor), from the latest
--                                            `flavors` row of the region and flavor; flavor rows only
-- accelerator_type              VARCHAR      e.g. nvidia-t4, as accelerator
-- accelerator_cards             INTEGER      accelerator cards per node, as accelerator
-- display_name                  VARCHAR      pool display name at the pool's latest observation read for the
--                                            report (snapshot_at up to the end of $to_day); flavor and pool rows
--                                            only, NULL on rollups
-- pool_type                     VARCHAR      Dedicate | Logical, as display_name
-- is_physical                   BOOLEAN      the pool is not Logical and has no parent (pools.is_physical), as
--                                            display_name: only physical pools are
--                                            summed into project, region and all rows
-- parent                        VARCHAR      parent pool of a Logical sub-pool, as display_name
-- root                          VARCHAR      root (physical) pool, as display_name
-- pools                         INTEGER      pools in the row: 1 on flavor and pool rows, physical pools on
--                                            rollups
-- requested_nodes               DOUBLE       requested nodes (spec count, pool_resources): the time-weighted
--                                            average over the day's credited hours, = requested_node_hours /
--                                            (observed_hours + carried_hours); on pool and rollup rows the sum of
--                                            the flavor rows' averages
-- requested_node_hours          DOUBLE       requested nodes x hours held, summed
-- creating_node_hours           DOUBLE       nodes in state creating x hours held
-- available_node_hours          DOUBLE       nodes in state available x hours held
-- abnormal_node_hours           DOUBLE       nodes in state abnormal x hours held
-- deleting_node_hours           DOUBLE       nodes in state deleting x hours held
-- provisioned_node_hours        DOUBLE       sum of the four states
-- observed_hours                DOUBLE       hours of the day covered by a fresh observation: within one schedule
--                                            period of the snapshot that saw the counts (<= 24) on flavor and pool
--                                            rows; on rollups the sum over the physical pools (pool-hours)
-- carried_hours                 DOUBLE       hours of the day credited with counts carried forward past one
--                                            period (the next scheduled snapshot did not observe the pool), up to
--                                            the cap of 2 x $period_hours; same sums as observed_hours. The
--                                            node-hours include these hours: > 0 means estimated, not seen
-- gap_hours                     DOUBLE       hours of the day in a gap (beyond the cap, unobserved); on
--                                            rollups the sum over the physical pools (pool-hours)
-- has_gap                       BOOLEAN      gap_hours > 0: the node-hours of this row are incomplete
-- available_share_of_requested  DOUBLE       available_node_hours / requested_node_hours; NULL when nothing
--                                            was requested
-- abnormal_share                DOUBLE       abnormal_node_hours / provisioned_node_hours; NULL when nothing
--                                            was provisioned
-- creating_card_hours           DOUBLE       creating_node_hours x accelerator_cards: accelerator cards x hours
--                                            in state creating; NULL when the flavor is unknown or CPU-only; pool
--                                            and rollup rows sum the known ones (as the next four)
-- available_card_hours          DOUBLE       available_node_hours x accelerator_cards
-- abnormal_card_hours           DOUBLE       abnormal_node_hours x accelerator_cards
-- deleting_card_hours           DOUBLE       deleting_node_hours x accelerator_cards
-- provisioned_card_hours        DOUBLE       provisioned_node_hours x accelerator_cards: the card-hours a
--                                            yearly/monthly pool is paid for, in every state
-- allocation_hours              DOUBLE       USE (allocation, from ShowPoolRuntimeMetrics): hours of the day
--                                            whose counts came with a runtime reading of the pool; the shares
--                                            below stand for these hours only (held like the node counts:
--                                            time-weighted). On rollups the sum over the physical pools
--                                            (pool-hours). Flavor rows carry their pool's USE columns when the
--                                            pool has that one flavor, else NULL (readings are per pool)
-- allocatable_card_hours        DOUBLE       accelerator cards the scheduler could place (runtime capacity:
--                                            healthy nodes) x hours; NULL without accelerator readings
-- allocated_card_hours          DOUBLE       accelerator cards held by workloads (their requests, not measured
--                                            use) x hours
-- allocated_card_share          DOUBLE       allocated_card_hours / allocatable_card_hours: the share of the
--                                            cards that workloads held. Accelerator cards first: they are what
--                                            the pool is paid for
-- allocated_cpu_share           DOUBLE       the same for cpu cores
-- allocated_memory_share        DOUBLE       the same for memory bytes
-- accelerator_util_mean         DOUBLE       MEASURED (ShowPoolMonitor, gpuUtil / npuUtil, hourly): the mean of
--                                            the day's hourly averages, percent. Rollups weight each pool by its
--                                            allocatable cards (a 64-card pool counts 64 times a 1-card pool)
-- accelerator_util_p95_max      DOUBLE       the 95th percentile of the day's hourly maxima, percent (rollups:
--                                            over every hour of every physical pool in the row)
-- measured_hours                DOUBLE       hours with a measured accelerator point (a -1 "no data" point is
--                                            not one); on rollups pool-hours
-- queued_hours                  DOUBLE       hours held with at least one workload queued for resources; on
--                                            rollups pool-hours
-- pressure_hours                DOUBLE       hours held with workloads queued AND no free accelerator card (or,
--                                            on a CPU-only pool, less than one free core): where work waits
--                                            for nodes; on rollups pool-hours
-- mean_queued                   DOUBLE       queued workloads, time-weighted over queued_hours (rollups: over
--                                            their pools' queued pool-hours)
-- max_queued                    INTEGER      the longest queue read that day (rollups: of any of their pools)
-- estimated_cost                DOUBLE       ESTIMATED: provisioned node-hours x price_per_node_hour from the
--                                            price file, matched on flavor and the pool's billing mode at each
--                                            snapshot; NULL when no price file is loaded or nothing matched
-- currency                      VARCHAR      currency of estimated_cost (from the price file); NULL when
--                                            estimated_cost is NULL
-- unpriced_node_hours           DOUBLE       provisioned node-hours with no matching price (not in
--                                            estimated_cost); NULL when no price file is loaded
WITH obs_days AS (
    SELECT * FROM pool_days($from_day, $to_day, $period_hours)
),
-- the pools' names: at their latest observation in the window, or (for a pool seen only before it, whose
-- gap runs into the range) at that observation
attributes AS (
    SELECT coalesce(a.pk, b.pk) AS pk,
           coalesce(a.region, b.before.region) AS region,
           coalesce(a.project_id, b.before.project_id) AS project_id,
           coalesce(a.pool_id, b.before.pool_id) AS pool_id,
           CASE WHEN a.pk IS NOT NULL THEN a.display_name ELSE b.before.display_name END AS display_name,
           CASE WHEN a.pk IS NOT NULL THEN a.pool_type ELSE b.before.pool_type END AS pool_type,
           CASE WHEN a.pk IS NOT NULL THEN a.is_physical ELSE b.before.is_physical END AS is_physical,
           CASE WHEN a.pk IS NOT NULL THEN a.parent ELSE b.before.parent END AS parent,
           CASE WHEN a.pk IS NOT NULL THEN a.root ELSE b.before.root END AS root
    FROM pool_attributes($from_day, $to_day, $period_hours) AS a
    FULL JOIN (SELECT DISTINCT pk, before FROM obs_days WHERE before IS NOT NULL) AS b USING (pk)
    WHERE CASE WHEN a.pk2 <> b.before.pk2
               THEN error('capacity_utilization: two pools share a pool_key; report this bug') ELSE true END
),
-- node counts per observation: requested (spec) and the four states (status), one row per entry
counts AS (
    SELECT pool_key(region, project_id, pool_id) AS pk, epoch(snapshot_at) AS t, flavor,
           'requested' AS state, count
    FROM pool_resources
    WHERE snapshot_day BETWEEN report_lo_day($from_day, $period_hours) AND $to_day::DATE
    UNION ALL
    SELECT pool_key(region, project_id, pool_id) AS pk, epoch(snapshot_at) AS t, flavor, state, count
    FROM pool_capacity
    WHERE snapshot_day BETWEEN report_lo_day($from_day, $period_hours) AND $to_day::DATE
      AND state IN ('creating', 'available', 'abnormal', 'deleting')
),
flavor_info AS (
    SELECT region, flavor,
           arg_max(accelerator, snapshot_at) AS accelerator,
           arg_max(accelerator_type, snapshot_at) AS accelerator_type,
           arg_max(accelerator_cards, snapshot_at) AS accelerator_cards
    FROM flavors
    WHERE snapshot_day <= $to_day::DATE
    GROUP BY region, flavor
),
has_prices AS (
    SELECT count(*) > 0 AS loaded FROM prices
),
-- USE per day x pool: each snapshot's runtime reading held for that snapshot's hours (pool_readings)
usage AS (
    SELECT o.d, o.pk,
           coalesce(sum(o.held_hours) FILTER (WHERE r.pk IS NOT NULL), 0) AS allocation_hours,
           sum(o.held_hours * r.cap_cards) AS allocatable_card_hours,
           sum(o.held_hours * r.alloc_cards) AS allocated_card_hours,
           sum(o.held_hours * r.cap_cores) AS allocatable_core_hours,
           sum(o.held_hours * r.alloc_cores) AS allocated_core_hours,
           sum(o.held_hours * r.cap_bytes) AS allocatable_byte_hours,
           sum(o.held_hours * r.alloc_bytes) AS allocated_byte_hours,
           coalesce(sum(o.held_hours) FILTER (WHERE r.queued > 0), 0) AS queued_hours,
           coalesce(sum(o.held_hours * r.queued), 0) AS queued_workload_hours,
           max(r.queued) AS max_queued,
           coalesce(sum(o.held_hours) FILTER (WHERE r.pressure), 0) AS pressure_hours
    FROM obs_days AS o
    JOIN pool_readings($from_day, $to_day, $period_hours) AS r USING (pk, t)
    WHERE o.held_hours > 0
    GROUP BY o.d, o.pk
),
util_hours AS (
    SELECT * FROM pool_util_hours($from_day, $to_day)
),
util_days AS (
    SELECT d, pk, avg(util_avg) AS util_mean, quantile_cont(util_max, 0.95) AS util_p95,
           count(util_avg)::DOUBLE AS measured_hours
    FROM util_hours
    GROUP BY d, pk
),
-- a pool's USE columns, per day (readings are per pool, not per flavor)
pool_use AS (
    SELECT coalesce(u.d, m.d) AS d, coalesce(u.pk, m.pk) AS pk,
           coalesce(u.allocation_hours, 0) AS allocation_hours,
           u.allocatable_card_hours, u.allocated_card_hours, u.allocatable_core_hours, u.allocated_core_hours,
           u.allocatable_byte_hours, u.allocated_byte_hours,
           coalesce(u.queued_hours, 0) AS queued_hours, coalesce(u.pressure_hours, 0) AS pressure_hours,
           coalesce(u.queued_workload_hours, 0) AS queued_workload_hours, u.max_queued,
           m.util_mean, m.util_p95, coalesce(m.measured_hours, 0) AS measured_hours,
           -- the pool's weight in a rollup's mean utilization: its cards (1 when unknown)
           coalesce(u.allocatable_card_hours / nullif(u.allocation_hours, 0), 1) AS util_weight
    FROM usage AS u
    FULL JOIN util_days AS m USING (d, pk)
),
-- one row per day x pool x flavor
by_flavor AS (
    SELECT o.d, o.pk, c.flavor,
           sum(o.held_hours * c.count) FILTER (WHERE c.state = 'requested') AS requested_node_hours,
           sum(o.held_hours * c.count) FILTER (WHERE c.state = 'creating') AS creating_node_hours,
           sum(o.held_hours * c.count) FILTER (WHERE c.state = 'available') AS available_node_hours,
           sum(o.held_hours * c.count) FILTER (WHERE c.state = 'abnormal') AS abnormal_node_hours,
           sum(o.held_hours * c.count) FILTER (WHERE c.state = 'deleting') AS deleting_node_hours,
           sum(o.held_hours * c.count * p.price_per_node_hour) FILTER (WHERE c.state <> 'requested')
               AS estimated_cost,
           any_value(p.currency) FILTER (WHERE c.state <> 'requested') AS currency,
           sum(o.held_hours * c.count) FILTER (WHERE c.state <> 'requested' AND p.price_per_node_hour IS NULL)
               AS unpriced_node_hours
    FROM obs_days AS o
    JOIN counts AS c USING (pk, t)
    LEFT JOIN prices AS p ON p.flavor = c.flavor AND p.billing_mode = o.billing_mode
    WHERE o.held_hours > 0
    GROUP BY o.d, o.pk, c.flavor
),
-- one row per day x pool: hours observed and in gaps, and the pool's names
by_pool AS (
    SELECT h.d, h.pk, h.observed_hours, h.carried_hours, h.gap_hours,
           a.region, a.project_id, a.pool_id, a.display_name, a.pool_type, a.is_physical, a.parent, a.root
    FROM (
        SELECT d, pk, sum(held_hours - carried_hours) AS observed_hours, sum(carried_hours) AS carried_hours,
               sum(gap_hours) AS gap_hours
        FROM obs_days
        GROUP BY d, pk
    ) AS h
    JOIN attributes AS a USING (pk)
),
flavor_rows AS (
    SELECT b.d, 'flavor' AS level, b.region, b.project_id, b.pool_id, f.flavor,
           b.display_name, b.pool_type, b.is_physical, b.parent, b.root, 1 AS pools,
           fi.accelerator, fi.accelerator_type, fi.accelerator_cards,
           coalesce(f.requested_node_hours, 0) / nullif(b.observed_hours + b.carried_hours, 0) AS requested_nodes,
           coalesce(f.requested_node_hours, 0) AS requested_node_hours,
           coalesce(f.creating_node_hours, 0) AS creating_node_hours,
           coalesce(f.available_node_hours, 0) AS available_node_hours,
           coalesce(f.abnormal_node_hours, 0) AS abnormal_node_hours,
           coalesce(f.deleting_node_hours, 0) AS deleting_node_hours,
           b.observed_hours, b.carried_hours, b.gap_hours,
           CASE WHEN fi.accelerator IS NOT NULL
                THEN coalesce(f.creating_node_hours, 0) * fi.accelerator_cards END AS creating_card_hours,
           CASE WHEN fi.accelerator IS NOT NULL
                THEN coalesce(f.available_node_hours, 0) * fi.accelerator_cards END AS available_card_hours,
           CASE WHEN fi.accelerator IS NOT NULL
                THEN coalesce(f.abnormal_node_hours, 0) * fi.accelerator_cards END AS abnormal_card_hours,
           CASE WHEN fi.accelerator IS NOT NULL
                THEN coalesce(f.deleting_node_hours, 0) * fi.accelerator_cards END AS deleting_card_hours,
           f.estimated_cost, CASE WHEN f.estimated_cost IS NOT NULL THEN f.currency END AS currency,
           CASE WHEN (SELECT loaded FROM has_prices) THEN coalesce(f.unpriced_node_hours, 0) END
               AS unpriced_node_hours
           , CASE WHEN count(*) OVER (PARTITION BY f.d, f.pk) = 1 THEN f.pk END AS single_flavor_pk
    FROM by_flavor AS f
    JOIN by_pool AS b USING (d, pk)
    LEFT JOIN flavor_info AS fi ON fi.region = b.region AND fi.flavor = f.flavor
),
flavor_rows_use AS (
    SELECT f.* EXCLUDE (single_flavor_pk), u.* EXCLUDE (d, pk)
    FROM flavor_rows AS f
    LEFT JOIN pool_use AS u ON u.d = f.d AND u.pk = f.single_flavor_pk
),
pool_rows AS (
    SELECT b.d, 'pool' AS level, b.region, b.project_id, b.pool_id, NULL::VARCHAR AS flavor,
           b.display_name, b.pool_type, b.is_physical, b.parent, b.root, 1 AS pools,
           NULL::VARCHAR AS accelerator, NULL::VARCHAR AS accelerator_type, NULL::INTEGER AS accelerator_cards,
           coalesce(f.requested_nodes, 0) AS requested_nodes,
           coalesce(f.requested_node_hours, 0) AS requested_node_hours,
           coalesce(f.creating_node_hours, 0) AS creating_node_hours,
           coalesce(f.available_node_hours, 0) AS available_node_hours,
           coalesce(f.abnormal_node_hours, 0) AS abnormal_node_hours,
           coalesce(f.deleting_node_hours, 0) AS deleting_node_hours,
           b.observed_hours, b.carried_hours, b.gap_hours,
           f.creating_card_hours, f.available_card_hours, f.abnormal_card_hours, f.deleting_card_hours,
           f.estimated_cost, f.currency,
           CASE WHEN (SELECT loaded FROM has_prices) THEN coalesce(f.unpriced_node_hours, 0) END
               AS unpriced_node_hours
           , u.* EXCLUDE (d, pk)
    FROM by_pool AS b
    LEFT JOIN pool_use AS u USING (d, pk)
    LEFT JOIN (
        SELECT d, region, project_id, pool_id,
               sum(requested_nodes) AS requested_nodes,
               sum(requested_node_hours) AS requested_node_hours,
               sum(creating_node_hours) AS creating_node_hours,
               sum(available_node_hours) AS available_node_hours,
               sum(abnormal_node_hours) AS abnormal_node_hours,
               sum(deleting_node_hours) AS deleting_node_hours,
               sum(creating_card_hours) AS creating_card_hours,
               sum(available_card_hours) AS available_card_hours,
               sum(abnormal_card_hours) AS abnormal_card_hours,
               sum(deleting_card_hours) AS deleting_card_hours,
               sum(estimated_cost) AS estimated_cost,
               any_value(currency) AS currency,
               sum(unpriced_node_hours) AS unpriced_node_hours
        FROM flavor_rows
        GROUP BY d, region, project_id, pool_id
    ) AS f USING (d, region, project_id, pool_id)
),
rollup_rows AS (
    SELECT d,
           CASE WHEN grouping(project_id) = 0 THEN 'project'
                WHEN grouping(region) = 0 THEN 'region'
                ELSE 'all' END AS level,
           region, project_id, NULL::VARCHAR AS pool_id, NULL::VARCHAR AS flavor,
           NULL::VARCHAR AS display_name, NULL::VARCHAR AS pool_type, NULL::BOOLEAN AS is_physical,
           NULL::VARCHAR AS parent, NULL::VARCHAR AS root,
           count(*) AS pools,
           NULL::VARCHAR AS accelerator, NULL::VARCHAR AS accelerator_type, NULL::INTEGER AS accelerator_cards,
           sum(requested_nodes) AS requested_nodes,
           sum(requested_node_hours) AS requested_node_hours,
           sum(creating_node_hours) AS creating_node_hours,
           sum(available_node_hours) AS available_node_hours,
           sum(abnormal_node_hours) AS abnormal_node_hours,
           sum(deleting_node_hours) AS deleting_node_hours,
           sum(observed_hours) AS observed_hours,
           sum(carried_hours) AS carried_hours,
           sum(gap_hours) AS gap_hours,
           sum(creating_card_hours) AS creating_card_hours,
           sum(available_card_hours) AS available_card_hours,
           sum(abnormal_card_hours) AS abnormal_card_hours,
           sum(deleting_card_hours) AS deleting_card_hours,
           sum(estimated_cost) AS estimated_cost,
           any_value(currency) AS currency,
           sum(unpriced_node_hours) AS unpriced_node_hours,
           sum(allocation_hours) AS allocation_hours,
           sum(allocatable_card_hours) AS allocatable_card_hours,
           sum(allocated_card_hours) AS allocated_card_hours,
           sum(allocatable_core_hours) AS allocatable_core_hours,
           sum(allocated_core_hours) AS allocated_core_hours,
           sum(allocatable_byte_hours) AS allocatable_byte_hours,
           sum(allocated_byte_hours) AS allocated_byte_hours,
           sum(queued_hours) AS queued_hours,
           sum(pressure_hours) AS pressure_hours,
           sum(queued_workload_hours) AS queued_workload_hours,
           max(max_queued) AS max_queued,
           sum(util_mean * measured_hours * util_weight) / nullif(sum(measured_hours * util_weight)
               FILTER (WHERE util_mean IS NOT NULL), 0) AS util_mean,
           sum(measured_hours) AS measured_hours
    FROM pool_rows
    WHERE is_physical
    GROUP BY GROUPING SETS ((d, region, project_id), (d, region), (d))
),
-- the p95 of hourly maxima of a rollup: over every measured hour of its physical pools
rollup_p95 AS (
    SELECT h.d,
           CASE WHEN grouping(a.project_id) = 0 THEN 'project'
                WHEN grouping(a.region) = 0 THEN 'region'
                ELSE 'all' END AS level,
           a.region, a.project_id, quantile_cont(h.util_max, 0.95) AS util_p95
    FROM util_hours AS h
    JOIN attributes AS a USING (pk)
    WHERE a.is_physical AND (h.d, h.pk) IN (SELECT (d, pk) FROM by_pool)
    GROUP BY GROUPING SETS ((h.d, a.region, a.project_id), (h.d, a.region), (h.d))
),
rollup_rows_use AS (
    SELECT r.*, p.util_p95
    FROM rollup_rows AS r
    LEFT JOIN rollup_p95 AS p ON p.d = r.d AND p.level = r.level AND p.region IS NOT DISTINCT FROM r.region
                              AND p.project_id IS NOT DISTINCT FROM r.project_id
),
all_rows AS (
    SELECT * FROM flavor_rows_use
    UNION ALL BY NAME
    SELECT * FROM pool_rows
    UNION ALL BY NAME
    SELECT * FROM rollup_rows_use
)
SELECT DATE '1970-01-01' + d::INTEGER AS day, level, region, project_id, pn.project_name, pool_id, flavor,
       accelerator, accelerator_type, accelerator_cards::INTEGER AS accelerator_cards,
       display_name, pool_type, is_physical, parent, root,
       pools::INTEGER AS pools,
       requested_nodes::DOUBLE AS requested_nodes,
       requested_node_hours::DOUBLE AS requested_node_hours,
       creating_node_hours::DOUBLE AS creating_node_hours,
       available_node_hours::DOUBLE AS available_node_hours,
       abnormal_node_hours::DOUBLE AS abnormal_node_hours,
       deleting_node_hours::DOUBLE AS deleting_node_hours,
       (creating_node_hours + available_node_hours + abnormal_node_hours + deleting_node_hours)::DOUBLE
           AS provisioned_node_hours,
       observed_hours::DOUBLE AS observed_hours,
       carried_hours::DOUBLE AS carried_hours,
       gap_hours::DOUBLE AS gap_hours,
       gap_hours > 0 AS has_gap,
       (available_node_hours / nullif(requested_node_hours, 0))::DOUBLE AS available_share_of_requested,
       (abnormal_node_hours
           / nullif(creating_node_hours + available_node_hours + abnormal_node_hours + deleting_node_hours, 0)
       )::DOUBLE AS abnormal_share,
       creating_card_hours::DOUBLE AS creating_card_hours,
       available_card_hours::DOUBLE AS available_card_hours,
       abnormal_card_hours::DOUBLE AS abnormal_card_hours,
       deleting_card_hours::DOUBLE AS deleting_card_hours,
       (creating_card_hours + available_card_hours + abnormal_card_hours + deleting_card_hours)::DOUBLE
           AS provisioned_card_hours,
       allocation_hours::DOUBLE AS allocation_hours,
       allocatable_card_hours::DOUBLE AS allocatable_card_hours,
       allocated_card_hours::DOUBLE AS allocated_card_hours,
       (allocated_card_hours / nullif(allocatable_card_hours, 0))::DOUBLE AS allocated_card_share,
       (allocated_core_hours / nullif(allocatable_core_hours, 0))::DOUBLE AS allocated_cpu_share,
       (allocated_byte_hours / nullif(allocatable_byte_hours, 0))::DOUBLE AS allocated_memory_share,
       util_mean::DOUBLE AS accelerator_util_mean,
       util_p95::DOUBLE AS accelerator_util_p95_max,
       measured_hours::DOUBLE AS measured_hours,
       queued_hours::DOUBLE AS queued_hours,
       pressure_hours::DOUBLE AS pressure_hours,
       (queued_workload_hours / nullif(queued_hours, 0))::DOUBLE AS mean_queued,
       max_queued::INTEGER AS max_queued,
       estimated_cost::DOUBLE AS estimated_cost,
       currency,
       unpriced_node_hours::DOUBLE AS unpriced_node_hours
FROM all_rows
LEFT JOIN project_names($to_day) AS pn USING (region, project_id)
ORDER BY d, region NULLS LAST, project_id NULLS LAST, pool_id NULLS LAST, flavor NULLS LAST
