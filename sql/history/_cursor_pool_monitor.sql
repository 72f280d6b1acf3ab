-- Non-table step, read before a snapshot fetches (pipeline/land/fetch.py read_cursors): per pool, the latest
-- hourly point the lake holds of ShowPoolMonitor, where the next snapshot's calls start (fetch.py
-- monitor_window asks again from that point, so a partly aggregated last hour is refreshed, and never further
-- back than collect.monitor_backfill_days). Runs on a read-only connection to the catalog (inventory.duckdb),
-- over pool_metrics as the catalog shows it (one row per pool, metric, statistic and point).
--
-- A snapshot asks for the average and the maximum in two calls, and either can fail alone: the cursor is the
-- latest point that BOTH statistics hold (the earlier of their latest points), so a failed call's hours are
-- asked again. A pool for which one of them was never stored has no cursor (NULL: backfilled). A `-1` point
-- (no data) is a point the service answered: it counts. Only hourly points count (period_s 3600), the ones the
-- snapshot asks for.
--   region, project_id, pool_id  VARCHAR      the pool
--   measured_at                  TIMESTAMPTZ  the latest hourly point both statistics hold; NULL: none
WITH latest AS (
    SELECT region, project_id, pool_id, statistic, max(measured_at) AS measured_at
    FROM pool_metrics
    WHERE period_s = 3600 AND statistic IN ('average', 'maximum')
    GROUP BY ALL
)
SELECT region, project_id, pool_id, CASE WHEN count(DISTINCT statistic) = 2 THEN min(measured_at) END AS measured_at
FROM latest
GROUP BY ALL
