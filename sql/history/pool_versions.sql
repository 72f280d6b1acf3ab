-- Table pool_versions: one row per distinct consecutive content of a pool (SCD type 2): a new version starts when
-- the pool is created, when its content changes, and when it is seen again after a deletion. "What did pool X
-- look like at time D": WHERE pool_id = 'X' AND valid_from <= D AND (valid_to IS NULL OR valid_to > D).
-- Content: the pools row (all columns but snapshot_id, snapshot_at, snapshot_day, source, response_id and the
-- key) and the pool's labels, annotations, scopes, resources, resource AZs, capacity, capacity AZs and job
-- flavors, as a JSON object keyed by field path (keys sorted): <pools column> (always present, null when NULL),
-- labels.<key>, annotations.<key>, scopes.<scope_type>.requested, scopes.<scope_type>.state,
-- resources.<flavor>.count, resources.<flavor>.max_count, resource_azs.<flavor>.<az>,
-- capacity.<state>.<flavor>.count, capacity.<state>.<flavor>.max_count, capacity_azs.<state>.<flavor>.<az>
-- (capacity summed over node pools), job_flavors (sorted list). Keys, flavors and AZs are used raw, dots and
-- all. Values: text as JSON strings, counts as numbers, flags as booleans, created_at as "YYYY-MM-DDTHH:MM:SSZ"
-- (UTC). Other than the pools columns, a NULL value is left out: NULL and absent are the same. Observation rules
-- (when a pool counts as deleted, or as unobserved): see pool_changes.
--
-- column                          type         meaning
-- region                          VARCHAR      region of the project
-- project_id                      VARCHAR      IAM project id
-- pool_id                         VARCHAR      pool id (metadata.name)
-- version                         INTEGER      1, 2, ... in time order, per pool (a re-created pool continues the
--                                              numbering)
-- valid_from                      TIMESTAMPTZ  snapshot_at of the first observation with this content
-- valid_to                        TIMESTAMPTZ  snapshot_at of the observation where the content changed or the pool
--                                              was seen deleted; NULL while current
-- ended_by                        VARCHAR      updated | deleted: what ended the version; NULL while current
-- first_snapshot_id               VARCHAR      first observation with this content (valid_from)
-- last_snapshot_id                VARCHAR      last observation with this content (the pool's last one while
--                                              current)
-- content                         JSON         the whole content, {field path: value}, keys sorted (see above)
-- display_name                    VARCHAR      as in pools: name shown in the console
--                                              (metadata.labels."os.modelarts/name")
-- workspace_id                    VARCHAR      as in pools: workspace, "0" = default, also when the label is
--                                              absent (metadata.labels."os.modelarts/workspace.id")
-- resource_id                     VARCHAR      as in pools: CBC resource id
--                                              (metadata.labels."os.modelarts/resource.id")
-- pool_type                       VARCHAR      as in pools: Dedicate (physical) | Logical (spec.type)
-- phase                           VARCHAR      as in pools: Creating | Running | Abnormal | Deleting | Error |
--                                              CreationFailed | ScalingFailed | Waiting, open enum (status.phase)
-- message                         VARCHAR      as in pools: status message (status.message)
-- parent                          VARCHAR      as in pools: parent pool id of a logical sub-pool; NULL when absent
--                                              or "" (status.parent)
-- root                            VARCHAR      as in pools: root (physical) pool id; NULL when absent or ""
--                                              (status.root)
-- is_physical                     BOOLEAN      as in pools: true when the pool is not of type Logical and has no
--                                              parent (status.parent absent, null or "")
-- created_at                      TIMESTAMPTZ  as in pools: creation time; NULL when absent or unparsable
--                                              (metadata.creationTimestamp)
-- description                     VARCHAR      as in pools: (metadata.annotations."os.modelarts/description")
-- billing_mode                    VARCHAR      as in pools: pay_per_use ("0") | yearly_monthly ("1") | unknown
--                                              (absent or any other value)
--                                              (metadata.annotations."os.modelarts/billing.mode")
-- period_type                     VARCHAR      as in pools: month ("2") | year ("3") | hour ("4", documented in the
--                                              ShowPool page, seeds/modelarts-show-pool.txt Table 6; the SDK lists
--                                              only 2 and 3) | unknown (present, other value) | NULL (absent)
--                                              (metadata.annotations."os.modelarts/period.type")
-- period_num                      INTEGER      as in pools: subscription periods, e.g. 2
--                                              (metadata.annotations."os.modelarts/period.num")
-- auto_renew                      BOOLEAN      as in pools: "1"/"true" -> true, "0"/"false" -> false, else NULL
--                                              (metadata.annotations."os.modelarts/auto.renew")
-- order_id                        VARCHAR      as in pools: CBC order id
--                                              (metadata.annotations."os.modelarts/order.id")
-- subpools_count                  INTEGER      as in pools: number of logical sub-pools
--                                              (metadata.annotations."os.modelarts.pool/subpools.count")
-- control_mode                    INTEGER      as in pools: restriction bitmask, 0 = none, e.g. 9 = 8 + 1
--                                              (spec.controlMode)
-- cm_to_yearly_monthly_restricted BOOLEAN      as in pools: bit 1 of control_mode: change to yearly/monthly is
--                                              restricted; this and the four flags below are NULL when control_mode
--                                              is NULL or negative
-- cm_flavor_change_restricted     BOOLEAN      as in pools: bit 2: flavor (specification) change is restricted
-- cm_service_restricted           BOOLEAN      as in pools: bit 4: the service is restricted
-- cm_frozen                       BOOLEAN      as in pools: bit 8: frozen
-- cm_police_frozen                BOOLEAN      as in pools: bit 16: frozen by the public security department (cannot
--                                              be unsubscribed)
-- network_name                    VARCHAR      as in pools: network resource name (spec.network.name)
-- container_network_mode          VARCHAR      as in pools: overlay_l2 | vpc-router | eni
--                                              (spec.containerNetwork.mode, the docs' key; else
--                                              spec.containernetwork.mode, the SDK's key)
-- gpu_driver_version              VARCHAR      as in pools: requested GPU driver (spec.driver.gpuVersion)
-- npu_driver_version              VARCHAR      as in pools: requested NPU driver (spec.driver.npuVersion)
-- driver_update_strategy          VARCHAR      as in pools: force | idle (spec.driver.updateStrategy)
-- gpu_driver_state                VARCHAR      as in pools: Creating | Upgrading | Running | Abnormal
--                                              (status.driver.gpu.state)
-- npu_driver_state                VARCHAR      as in pools: same, for NPU (status.driver.npu.state)
WITH v AS (
    SELECT * FROM _h_versions
)
SELECT v.region, v.project_id, v.pool_id, v.version, v.valid_from, v.valid_to, v.ended_by,
       v.first_snapshot_id, v.last_snapshot_id, v.content,
       r.display_name,
       r.workspace_id,
       r.resource_id,
       r.pool_type,
       r.phase,
       r.message,
       r.parent,
       r.root,
       r.is_physical,
       r.created_at,
       r.description,
       r.billing_mode,
       r.period_type,
       r.period_num,
       r.auto_renew,
       r.order_id,
       r.subpools_count,
       r.control_mode,
       r.cm_to_yearly_monthly_restricted,
       r.cm_flavor_change_restricted,
       r.cm_service_restricted,
       r.cm_frozen,
       r.cm_police_frozen,
       r.network_name,
       r.container_network_mode,
       r.gpu_driver_version,
       r.npu_driver_version,
       r.driver_update_strategy,
       r.gpu_driver_state,
       r.npu_driver_state
FROM v
JOIN _h_rows AS r ON r.pkey = v.pkey AND r.snapshot_at = v.valid_from
ORDER BY v.region, v.project_id, v.pool_id, v.version
