-- Check every_target_has_fetch_row: each target planned for the snapshot (configured or discovered) has at
-- least one row in fetches, whether its calls succeeded or not. Returns the targets without one (pass: none).
--
-- column        type     meaning
-- region        VARCHAR  region of the target without a fetch row
-- project_id    VARCHAR  its project id
-- endpoint      VARCHAR  its endpoint
-- workspace_id  VARCHAR  its workspace filter
SELECT p.region, p.project_id, p.endpoint, p.workspace_id
FROM planned_targets AS p
ANTI JOIN fetches AS f
    ON f.region = p.region AND f.project_id = p.project_id AND f.endpoint = p.endpoint
    AND f.workspace_id IS NOT DISTINCT FROM p.workspace_id
