-- Non-table step 9: the `pools` rows of the candidate version starts (_h_steps.is_start). history.py
-- materializes this SELECT as TEMP TABLE _h_rows: the source of the pools fields in _entries.sql and of
-- pool_versions' flat columns.
--   pkey  UBIGINT  hash(region, project_id, pool_id), as in _h_obs
--   snapshot_id, snapshot_at, region, project_id, pool_id and the 30 content columns of `pools`
SELECT p.snapshot_id, p.snapshot_at, p.region, p.project_id, p.pool_id, s.pkey,
       p.display_name, p.workspace_id, p.resource_id, p.pool_type, p.phase, p.message, p.parent, p.root,
       p.is_physical, p.created_at, p.description, p.billing_mode, p.period_type, p.period_num, p.auto_renew,
       p.order_id, p.subpools_count, p.control_mode, p.cm_to_yearly_monthly_restricted,
       p.cm_flavor_change_restricted, p.cm_service_restricted, p.cm_frozen, p.cm_police_frozen, p.network_name,
       p.container_network_mode, p.gpu_driver_version, p.npu_driver_version, p.driver_update_strategy,
       p.gpu_driver_state, p.npu_driver_state
FROM pools AS p
JOIN (SELECT snapshot_at, pkey FROM _h_steps WHERE is_start) AS s
  ON s.snapshot_at = p.snapshot_at AND s.pkey = hash(p.region, p.project_id, p.pool_id)
