-- Not a view of its own (files starting with '_' are steps): the body of the catalog's pool_metrics view, one row
-- per point across snapshots. Consecutive snapshots ask ShowPoolMonitor for overlapping windows (each re-reads
-- the pool's latest hour, which the service may have aggregated only in part), so a point is keyed by
-- (region, project_id, pool_id, metric, statistic, measured_at) and the latest snapshot's reading wins (snapshot
-- ids are sortable UTC text). `observed` is every snapshot's rows, put in by pipeline/catalog/views.py; each
-- snapshot's Parquet keeps what it read.
SELECT * EXCLUDE (point_rank)
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY region, project_id, pool_id, metric, statistic, measured_at
        ORDER BY snapshot_id DESC, value NULLS LAST
    ) AS point_rank
    FROM observed
)
WHERE point_rank = 1
