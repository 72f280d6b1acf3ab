-- Where the next snapshot's pace starts, per endpoint: the rate the latest snapshot that paced the endpoint
-- automatically (rate_mode auto) settled on, from snapshots.endpoint_rates. A fixed pace says nothing about
-- the gateway, so it is never a start. No row: the controller starts from its conservative default.
WITH rates AS (
    SELECT snapshot_at,
           unnest(from_json(endpoint_rates, '[{"endpoint": "VARCHAR", "mode": "VARCHAR", "settled_rps": "DOUBLE"}]'),
                  max_depth := 2)
    FROM snapshots
    WHERE endpoint_rates IS NOT NULL
)
SELECT endpoint, settled_rps
FROM rates
WHERE mode = 'auto' AND settled_rps > 0
QUALIFY row_number() OVER (PARTITION BY endpoint ORDER BY snapshot_at DESC) = 1
