-- Check every_target_readable (severity WARN, not blocking): each planned target (configured or discovered)
-- was read in this snapshot: it has pool listing calls and every one of them succeeded. A project that is forbidden, throttled or down
-- in every snapshot is otherwise silently absent from every report. Returns each target without a successful
-- listing (or with a failed page), with what its listing calls answered (pass: none).
--
-- column        type       meaning
-- region        VARCHAR    region of the target
-- project_id    VARCHAR    its project id
-- workspace_id  VARCHAR    its workspace filter (NULL: all workspaces)
-- outcomes      VARCHAR[]  the distinct outcomes of its listing calls (none: it was never called)
-- reasons       VARCHAR[]  the distinct error codes or reasons of those calls
SELECT p.region, p.project_id, p.workspace_id,
       list(DISTINCT f.outcome ORDER BY f.outcome) FILTER (WHERE f.outcome IS NOT NULL) AS outcomes,
       list(DISTINCT coalesce(f.error_code, f.reason) ORDER BY coalesce(f.error_code, f.reason))
           FILTER (WHERE coalesce(f.error_code, f.reason) IS NOT NULL) AS reasons
FROM planned_targets AS p
LEFT JOIN fetches AS f
    ON f.region = p.region AND f.project_id = p.project_id AND f.endpoint = p.endpoint
    AND f.workspace_id IS NOT DISTINCT FROM p.workspace_id AND f.call = 'list_pools'
GROUP BY ALL
HAVING count(f.outcome) = 0 OR bool_or(f.outcome <> 'ok')
