-- Non-table step: what pool_metrics.sql skipped of the landed ShowPoolMonitor answers (monitor_pages), one row per
-- body, series, point or statistic it could not read, for the rejected_documents path (its bytes stay in the raw
-- landing), from what sql/normalize/_prepare_monitor_pages.sql parsed. Mirrors pool_metrics.sql's rules exactly: a body that is not JSON or has no `metrics` array; a
-- series that is not an object, whose `metric` (object, or array whose first element is read) names no
-- metricName, or that has no `dataPoints` array; a point that is not an object, whose timestamp is not a whole
-- number of epoch ms, or whose `statistics` is not an array; a statistic whose value is not a finite number or
-- that names no statistic when the request named none either.
--   region, project_id, pool_id, call  VARCHAR  the call (pool_id: the pool it asked about)
--   page    BIGINT   the body (monitor_pages.page)
--   reason  VARCHAR  what could not be read, with the item's place, e.g. metrics[1].dataPoints[3]: value is
--                    not a number
SELECT region, project_id, pool_id, call, page,
       CASE WHEN NOT valid THEN 'body is not JSON' ELSE 'no metrics array in the body' END AS reason
FROM monitor_bodies
WHERE metrics IS NULL
UNION ALL
SELECT region, project_id, pool_id, call, page,
       'metrics[' || i || ']: ' || CASE WHEN NOT coalesce(is_object, false) THEN 'not an object'
                                        WHEN NOT named THEN 'no metricName'
                                        ELSE 'no dataPoints array' END
FROM monitor_series
WHERE NOT coalesce(is_object, false) OR NOT named OR pts IS NULL
UNION ALL
SELECT region, project_id, pool_id, call, page,
       'metrics[' || i || '].dataPoints[' || j || ']: ' || CASE WHEN NOT coalesce(is_object, false) THEN 'not an object'
                                                                WHEN ms IS NULL THEN 'timestamp is not epoch milliseconds'
                                                                ELSE 'no statistics array' END
FROM monitor_points
WHERE ms IS NULL OR stats IS NULL
UNION ALL
SELECT region, project_id, pool_id, call, page,
       'metrics[' || i || '].dataPoints[' || j || '].statistics[' || k || ']: ' ||
       CASE WHEN NOT coalesce(is_object, false) THEN 'not an object'
            WHEN number IS NULL THEN 'value is not a number'
            ELSE 'no statistic named' END
FROM monitor_stats
WHERE number IS NULL OR coalesce(statistic, '') = ''
ORDER BY region, project_id, pool_id, page, reason
