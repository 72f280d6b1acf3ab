-- Table current_observation: for each pool the lake has observed, its latest observation, unless a confirmed
-- deletion (pool_changes, change_type deleted) came after it. The current_* views (current_pools,
-- current_pool_labels, current_pool_annotations, current_pool_scopes, current_pool_resources,
-- current_pool_resource_azs, current_pool_capacity, current_pool_capacity_azs, current_pool_job_flavors) hold
-- the rows of each table at that observation, so "right now" questions need no max(snapshot_id). A pool that
-- could not be read lately (its project forbidden, say) stays here with its last observation: look at
-- snapshot_at.
--
-- column       type         meaning
-- region       VARCHAR      region of the pool's project
-- project_id   VARCHAR      IAM project id
-- pool_id      VARCHAR      pool id (metadata.name)
-- snapshot_id  VARCHAR      the latest snapshot that observed the pool
-- snapshot_at  TIMESTAMPTZ  that snapshot's time
SELECT o.region, o.project_id, o.pool_id, o.snapshot_id, o.snapshot_at
FROM (
    SELECT region, project_id, pool_id, max(snapshot_id) AS snapshot_id, max(snapshot_at) AS snapshot_at
    FROM pools
    GROUP BY ALL
) AS o
LEFT JOIN (
    SELECT region, project_id, pool_id, max(snapshot_id) AS deleted_in
    FROM pool_changes
    WHERE change_type = 'deleted'
    GROUP BY ALL
) AS d USING (region, project_id, pool_id)
WHERE d.deleted_in IS NULL OR d.deleted_in < o.snapshot_id
