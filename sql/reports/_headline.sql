-- Non-table step: the headline figures of an export (the top of the HTML page): provisioned nodes and
-- accelerator cards of the PHYSICAL pools (a Logical sub-pool's nodes are its parent's) by state and billing
-- mode, at two snapshots: the last one the reports use in the period ($last_id) and the one to compare it with
-- ($first_id: the last snapshot before the period, i.e. the end of the previous period, else the period's first
-- snapshot). pipeline/reports/tables.py headline_rows picks them and runs this on the report connection,
-- through the gate (the excluded snapshots are not there).
-- Parameters: $first_id, $last_id VARCHAR (snapshot ids), $first_day, $last_day DATE (their days: the lake's
-- partitions to read), $to_day DATE (the flavor catalog as of the period's end).
--
-- column        type     meaning
-- moment        VARCHAR  last | first: which of the two snapshots (both when they are the same one)
-- snapshot_id   VARCHAR  that snapshot
-- billing_mode  VARCHAR  pay_per_use | yearly_monthly | unknown, as in pools
-- state         VARCHAR  creating | available | abnormal | deleting
-- nodes         BIGINT   nodes of the physical pools in that state and billing mode
-- cards         BIGINT   nodes x accelerator cards per node of their flavor (from the latest `flavors` row of
--                        the region and flavor up to $to_day); CPU-only and unknown flavors count 0
WITH cards AS (
    SELECT region, flavor, arg_max(accelerator_cards, snapshot_at) AS per_node,
           arg_max(accelerator, snapshot_at) AS accelerator
    FROM flavors
    WHERE snapshot_day <= $to_day::DATE
    GROUP BY ALL
),
counts AS (
    SELECT c.snapshot_id, p.billing_mode, c.state, c.count,
           CASE WHEN f.accelerator IS NOT NULL THEN c.count * coalesce(f.per_node, 0) ELSE 0 END AS cards
    FROM pool_capacity AS c
    JOIN pools AS p USING (snapshot_id, region, project_id, pool_id)
    LEFT JOIN cards AS f USING (region, flavor)
    WHERE c.snapshot_day IN ($first_day::DATE, $last_day::DATE) AND p.snapshot_day IN ($first_day::DATE, $last_day::DATE)
      AND c.snapshot_id IN ($first_id::VARCHAR, $last_id::VARCHAR)
      AND p.is_physical AND c.state IN ('creating', 'available', 'abnormal', 'deleting')
)
SELECT 'last' AS moment, snapshot_id, billing_mode, state, sum(count)::BIGINT AS nodes, sum(cards)::BIGINT AS cards
FROM counts
WHERE snapshot_id = $last_id::VARCHAR
GROUP BY ALL
UNION ALL
SELECT 'first', snapshot_id, billing_mode, state, sum(count)::BIGINT, sum(cards)::BIGINT
FROM counts
WHERE snapshot_id = $first_id::VARCHAR
GROUP BY ALL
ORDER BY moment DESC, billing_mode, state
