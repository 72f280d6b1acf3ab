-- Where the next snapshot's pace starts, per endpoint: the rate the latest snapshot that paced the endpoint
-- automatically (rate_mode auto) settled on, from snapshots.endpoint_rates. A fixed pace says nothing about
-- the gateway, so it is never a start. limit_known: a 429 had measured the gateway's limit (in that snapshot or
-- one it started from); without one the rate only shows what the calls needed, and the next snapshot may grow
-- fast past it. No row: the controller starts from its conservative default.
WITH rates AS (
    SELECT snapshot_at,
           unnest(from_json(endpoint_rates, '[{"endpoint": "VARCHAR", "mode": "VARCHAR", "settled_rps": "DOUBLE",
                                              "limit_known": "BOOLEAN"}]')) AS r
    FROM snapshots
    WHERE endpoint_rates IS NOT NULL
)
SELECT r.endpoint, r.settled_rps, coalesce(r.limit_known, false) AS limit_known
FROM rates
WHERE r.mode = 'auto' AND r.settled_rps > 0
QUALIFY row_number() OVER (PARTITION BY r.endpoint ORDER BY snapshot_at DESC) = 1
