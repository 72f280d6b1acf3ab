-- Not a view of its own (files starting with '_' are steps): the body of the catalog's pool_events view, one row
-- per event across snapshots. Each snapshot asks ListEvents only from the second of the latest stored event, so
-- snapshots overlap, and a repeated event (Kubernetes counts repeats up) comes back with a grown count and
-- last_at. An event is keyed by (region, project_id, pool_id, reason, first_at, message); its most advanced
-- observation wins: the latest last_at, then the largest count, then the latest snapshot (then the rest of the
-- row, so that the choice never depends on file order). `observed` is every snapshot's rows (the lake's files
-- of pool_events), put in by pipeline/catalog/views.py.
SELECT * EXCLUDE (event_rank)
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY region, project_id, pool_id, reason, first_at, message
        ORDER BY last_at DESC NULLS LAST, count DESC NULLS LAST, snapshot_id DESC, type
    ) AS event_rank
    FROM observed
)
WHERE event_rank = 1
