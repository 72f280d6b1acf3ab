-- Table pressure: where work waits for nodes, per UTC day and pool. BASIS: hours with workloads queued for
-- resources while the pool had no free capacity (no available accelerator card; on a CPU-only pool, less than one free
-- core), from ShowPoolRuntimeMetrics readings held like the node counts of capacity_utilization. These are the
-- pools to add nodes to. Logical sub-pools are listed too (a sub-pool can queue while its parent has room
-- elsewhere: the place to resize is then the sub-pool). Only pool-days with pressure_hours > 0 have rows.
-- Parameters: $from_day DATE, $to_day DATE (inclusive), $period_hours DOUBLE.
--
-- column                 type     meaning
-- day                    DATE     UTC day
-- region                 VARCHAR  region
-- project_id             VARCHAR  IAM project id
-- project_name           VARCHAR  the project's IAM name (table projects); NULL when IAM was not read
-- pool_id                VARCHAR  pool id
-- display_name           VARCHAR  pool display name (as capacity_utilization)
-- pool_type              VARCHAR  Dedicate | Logical
-- parent                 VARCHAR  parent pool of a Logical sub-pool
-- flavors                VARCHAR  the pool's flavors that day, comma-separated
-- accelerator_type       VARCHAR  e.g. nvidia-a100 (from the flavor catalog), comma-separated when several
-- pressure_hours         DOUBLE   hours with workloads queued and no free capacity
-- queued_hours           DOUBLE   hours with workloads queued (free capacity or not)
-- mean_queued            DOUBLE   queued workloads, time-weighted over the queued hours
-- max_queued             INTEGER  the longest queue read that day
-- allocated_card_share   DOUBLE   share of the allocatable accelerator cards held by workloads that day
-- allocated_cpu_share    DOUBLE   the same for cpu cores
-- available_node_hours   DOUBLE   nodes in state available x hours (capacity_utilization)
-- allocation_hours       DOUBLE   hours with a runtime reading: what the figures above stand for
WITH capacity AS (
    SELECT * FROM capacity_rows($from_day, $to_day, $period_hours)
),
flavors AS (
    SELECT day, region, project_id, pool_id,
           string_agg(DISTINCT flavor, ', ' ORDER BY flavor) AS flavors,
           string_agg(DISTINCT accelerator_type, ', ' ORDER BY accelerator_type) AS accelerator_type
    FROM capacity
    WHERE level = 'flavor'
    GROUP BY ALL
)
SELECT c.day, c.region, c.project_id, c.project_name, c.pool_id, c.display_name, c.pool_type, c.parent,
       f.flavors, f.accelerator_type,
       c.pressure_hours, c.queued_hours,
       c.mean_queued, c.max_queued,
       c.allocated_card_share, c.allocated_cpu_share, c.available_node_hours, c.allocation_hours
FROM capacity AS c
LEFT JOIN flavors AS f USING (day, region, project_id, pool_id)
WHERE c.level = 'pool' AND c.pressure_hours > 0
ORDER BY c.day, c.pressure_hours DESC, c.region, c.project_id, c.pool_id
