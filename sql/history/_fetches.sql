-- Non-table step 3: the columns of `fetches` the history needs, read once (the view may list thousands of
-- files: each statement that names it binds and opens them all). history.py materializes this SELECT as
-- TEMP TABLE _h_fetches (small: one row per API call). Columns as in `fetches`.
SELECT snapshot_id, snapshot_at, region, project_id, pool_id, call, endpoint, workspace_id, label_selector,
       status_filter, outcome, http_status, error_code
FROM fetches
