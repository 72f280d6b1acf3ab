-- Table idle_capacity: accelerator capacity paid for but idle, per UTC day and physical pool: the report finance
-- asks for first. BASIS: capacity_utilization's pool rows (the same time-weighting and gaps). A pool-day is idle
-- when its accelerator cards were mostly unallocated (allocated_card_share below $idle_threshold percent:
-- reason unallocated), or allocated but measured busy below $idle_threshold percent on average (mean of the
-- hourly gpuUtil/npuUtil averages: reason allocated_not_used). Idle card-hours are the unallocated card-hours,
-- plus the allocated ones on a day measured below the threshold. Estimated idle cost: the pool-day's estimated
-- cost (price file) x idle card-hours / provisioned card-hours; an estimate, not a bill. Only physical pools
-- with accelerator readings (a Logical sub-pool's cards are its parent's); only idle pool-days have rows;
-- flagged marks the pools idle for $idle_days consecutive days or more, the ones to act on.
-- Parameters: $from_day DATE, $to_day DATE (inclusive), $period_hours DOUBLE, $idle_threshold DOUBLE (percent),
-- $idle_days INTEGER.
--
-- column                   type     meaning
-- day                      DATE     UTC day
-- region                   VARCHAR  region
-- project_id               VARCHAR  IAM project id
-- project_name             VARCHAR  the project's IAM name (table projects); NULL when IAM was not read
-- pool_id                  VARCHAR  pool id
-- display_name             VARCHAR  pool display name (as capacity_utilization)
-- flavors                  VARCHAR  the pool's flavors that day, comma-separated
-- accelerator_type         VARCHAR  e.g. nvidia-a100, or several comma-separated (from the flavor catalog)
-- idle_reason              VARCHAR  unallocated | allocated_not_used
-- idle_days                INTEGER  consecutive UTC days, up to this one, that the pool was idle (days before
--                                   $from_day count: a streak is never cut by the report's range)
-- flagged                  BOOLEAN  idle_days >= $idle_days
-- allocatable_card_hours   DOUBLE   accelerator cards the scheduler could place x hours (capacity_utilization)
-- allocated_card_hours     DOUBLE   cards held by workloads x hours
-- allocated_card_share     DOUBLE   allocated_card_hours / allocatable_card_hours
-- accelerator_util_mean    DOUBLE   measured: mean of the day's hourly averages, percent; NULL when not measured
-- measured_hours           DOUBLE   hours with a measured accelerator point
-- idle_card_hours          DOUBLE   unallocated card-hours, plus the allocated card-hours when the day measured
--                                   below the threshold
-- idle_share               DOUBLE   idle_card_hours / allocatable_card_hours
-- provisioned_card_hours   DOUBLE   cards of every provisioned node x hours (what is paid for)
-- estimated_cost           DOUBLE   ESTIMATED cost of the pool-day (capacity_utilization.estimated_cost); NULL
--                                   without a price file
-- estimated_idle_cost      DOUBLE   ESTIMATED: estimated_cost x idle_card_hours / provisioned_card_hours
-- currency                 VARCHAR  currency of the estimates
WITH capacity AS (
    SELECT * FROM capacity_rows($from_day::DATE - ($idle_days::INTEGER - 1), $to_day, $period_hours)
),
flavors AS (
    SELECT day, region, project_id, pool_id,
           string_agg(DISTINCT flavor, ', ' ORDER BY flavor) AS flavors,
           string_agg(DISTINCT accelerator_type, ', ' ORDER BY accelerator_type) AS accelerator_type
    FROM capacity
    WHERE level = 'flavor'
    GROUP BY ALL
),
judged AS (
    SELECT c.*, f.flavors, f.accelerator_type AS accel_types,
           CASE WHEN c.allocated_card_share * 100 < $idle_threshold THEN 'unallocated'
                WHEN c.accelerator_util_mean < $idle_threshold THEN 'allocated_not_used' END AS idle_reason,
           greatest(c.allocatable_card_hours - coalesce(c.allocated_card_hours, 0), 0)
               + CASE WHEN c.accelerator_util_mean < $idle_threshold THEN coalesce(c.allocated_card_hours, 0)
                      ELSE 0 END AS idle_card_hours
    FROM capacity AS c
    LEFT JOIN flavors AS f USING (day, region, project_id, pool_id)
    WHERE c.level = 'pool' AND c.is_physical AND c.allocatable_card_hours > 0
),
streaks AS (
    SELECT *,
           row_number() OVER (PARTITION BY region, project_id, pool_id, island ORDER BY day) AS idle_days
    FROM (
        SELECT *, day - INTERVAL (row_number() OVER (PARTITION BY region, project_id, pool_id ORDER BY day)) DAY
                  AS island
        FROM judged
        WHERE idle_reason IS NOT NULL
    )
)
SELECT day, region, project_id, project_name, pool_id, display_name, flavors, accel_types AS accelerator_type,
       idle_reason, idle_days::INTEGER AS idle_days, idle_days >= $idle_days::INTEGER AS flagged,
       allocatable_card_hours, allocated_card_hours, allocated_card_share, accelerator_util_mean, measured_hours,
       idle_card_hours::DOUBLE AS idle_card_hours,
       (idle_card_hours / allocatable_card_hours)::DOUBLE AS idle_share,
       provisioned_card_hours, estimated_cost,
       (estimated_cost * idle_card_hours / nullif(provisioned_card_hours, 0))::DOUBLE AS estimated_idle_cost,
       currency
FROM streaks
WHERE day >= $from_day::DATE
ORDER BY day, region, project_id, pool_id
