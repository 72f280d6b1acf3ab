-- Non-table step 5: the listings that can prove a pool is gone. history.py materializes this SELECT as
-- TEMP TABLE _h_scans.
--
-- A (region, project_id) is observed in a snapshot by a list_pools target with no label_selector and no
-- status_filter (empty counts as none) whose every call in that snapshot has outcome 'ok': such a listing shows
-- every pool of the project, or with a workspace_id filter every pool of that workspace. A listing whose
-- documents were partly unreadable (a rejected_documents error row from list_pools in that snapshot and project,
-- other than a duplicate) proves nothing: the unreadable document could be any pool. A warning row (a document
-- read with a warning; severity is NULL in lakes written before the column existed, when every row was an error)
-- spoils nothing.
--   snapshot_id   VARCHAR      the snapshot
--   snapshot_at   TIMESTAMPTZ  its time
--   region, project_id  VARCHAR  the project observed
--   workspace_id  VARCHAR      NULL: the whole project; else only the pools of this workspace are observed
WITH targets AS (
    SELECT snapshot_id, snapshot_at, region, project_id, endpoint, nullif(workspace_id, '') AS workspace_id
    FROM _h_fetches
    WHERE call = 'list_pools'
      AND coalesce(label_selector, '') = ''
      AND coalesce(status_filter, '') = ''
    GROUP BY ALL
    HAVING bool_and(outcome = 'ok')
),
spoiled AS (
    SELECT DISTINCT snapshot_id, region, project_id
    FROM rejected_documents
    WHERE source = 'list_pools' AND reason IS DISTINCT FROM 'duplicate pool id in snapshot'
      AND coalesce(severity, 'error') = 'error'
)
SELECT DISTINCT t.snapshot_id, t.snapshot_at, t.region, t.project_id, t.workspace_id
FROM targets AS t
ANTI JOIN spoiled AS s
       ON s.snapshot_id = t.snapshot_id AND s.region = t.region AND s.project_id = t.project_id
