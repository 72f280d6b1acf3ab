-- Cursor of the pool_events family: per pool, the time of the latest event the lake holds (its lastTimestamp,
-- else its firstTimestamp), read from the catalog before a snapshot. The next ListEvents of the pool asks
-- `since` that second, again from that very second: an event updated since (a repeat counted up) comes back
-- with its new count and lastTimestamp, and the catalog's pool_events keeps one row per event, so the overlap
-- never duplicates. A pool without a stored event has no row here (its next call asks for everything).
SELECT region, project_id, pool_id, max(coalesce(last_at, first_at)) AS at
FROM pool_events
WHERE coalesce(last_at, first_at) IS NOT NULL
GROUP BY ALL
