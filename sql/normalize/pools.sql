-- Table pools: one row per pool per snapshot (per usable document in `docs`, see _docs.sql).
-- Paths are in the ModelArts v2 Pool object (reference §3). Text values are taken as given; a value of the
-- wrong JSON type is read as its JSON text (text columns) or NULL (typed columns), never an error.
--
-- column                           type         meaning (source path)
-- snapshot_id                      VARCHAR      snapshot, sortable UTC text like 20261128T060000Z (run)
-- snapshot_at                      TIMESTAMPTZ  snapshot time, UTC (run)
-- region                           VARCHAR      region of the project (run)
-- project_id                       VARCHAR      IAM project id (run)
-- pool_id                          VARCHAR      pool id (metadata.name)
-- display_name                     VARCHAR      name shown in the console (metadata.labels."os.modelarts/name")
-- workspace_id                     VARCHAR      workspace, "0" = default (metadata.labels."os.modelarts/workspace.id");
--                                               "0" when the label is absent (or null): the docs' examples of
--                                               2024-11 on omit it for pools of the default workspace, so
--                                               WHERE workspace_id = '0' finds them (workspace_id_assumed says so)
-- workspace_id_assumed             BOOLEAN      true when workspace_id is the assumed "0" of an absent (or null)
--                                               label, false when the label gave it
-- resource_id                      VARCHAR      CBC resource id (metadata.labels."os.modelarts/resource.id")
-- pool_type                        VARCHAR      Dedicate (physical) | Logical (spec.type)
-- phase                            VARCHAR      Creating | Running | Abnormal | Deleting | Error | CreationFailed |
--                                               ScalingFailed | Waiting, open enum (status.phase)
-- message                          VARCHAR      status message (status.message)
-- parent                           VARCHAR      parent pool id of a logical sub-pool; NULL when absent or "" (status.parent)
-- root                             VARCHAR      root (physical) pool id; NULL when absent or "" (status.root)
-- is_physical                      BOOLEAN      true when the pool is neither of type Logical (spec.type) nor has a
--                                               parent (status.parent absent, null or ""): a Logical sub-pool is never
--                                               physical, even before its status names the parent (a create
--                                               response's status is {})
-- created_at                       TIMESTAMPTZ  creation time; NULL when absent or unparsable (metadata.creationTimestamp)
-- description                      VARCHAR      (metadata.annotations."os.modelarts/description")
-- billing_mode                     VARCHAR      pay_per_use ("0") | yearly_monthly ("1") | unknown (absent or any
--                                               other value) (metadata.annotations."os.modelarts/billing.mode")
-- period_type                      VARCHAR      month ("2") | year ("3") | hour ("4", documented in the ShowPool page,
--                                               seeds/modelarts-show-pool.txt Table 6; the SDK lists only 2 and 3) |
--                                               unknown (present, other value) | NULL (absent)
--                                               (metadata.annotations."os.modelarts/period.type")
-- period_num                       INTEGER      subscription periods, e.g. 2 (metadata.annotations."os.modelarts/period.num")
-- auto_renew                       BOOLEAN      "1"/"true" -> true, "0"/"false" -> false, else NULL
--                                               (metadata.annotations."os.modelarts/auto.renew")
-- order_id                         VARCHAR      CBC order id (metadata.annotations."os.modelarts/order.id")
-- subpools_count                   INTEGER      number of logical sub-pools, 0..2147483647, never NULL: absent reads as 0
--                                               (the service writes the annotation on physical pools that have
--                                               sub-pools); a document with any other value is rejected whole
--                                               (metadata.annotations."os.modelarts.pool/subpools.count")
-- control_mode                     INTEGER      restriction bitmask, 0 = none, e.g. 9 = 8 + 1 (spec.controlMode)
-- cm_to_yearly_monthly_restricted  BOOLEAN      bit 1 of control_mode: change to yearly/monthly is restricted;
--                                               this and the four flags below are NULL when control_mode is
--                                               NULL or negative
-- cm_flavor_change_restricted      BOOLEAN      bit 2: flavor (specification) change is restricted
-- cm_service_restricted            BOOLEAN      bit 4: the service is restricted
-- cm_frozen                        BOOLEAN      bit 8: frozen
-- cm_police_frozen                 BOOLEAN      bit 16: frozen by the public security department (cannot be
--                                               unsubscribed)
-- network_name                     VARCHAR      network resource name (spec.network.name)
-- container_network_mode           VARCHAR      overlay_l2 | vpc-router | eni (spec.containerNetwork.mode, the docs' key;
--                                               else spec.containernetwork.mode, the SDK's key)
-- gpu_driver_version               VARCHAR      requested GPU driver (spec.driver.gpuVersion)
-- npu_driver_version               VARCHAR      requested NPU driver (spec.driver.npuVersion)
-- driver_update_strategy           VARCHAR      force | idle (spec.driver.updateStrategy)
-- gpu_driver_state                 VARCHAR      Creating | Upgrading | Running | Abnormal (status.driver.gpu.state)
-- npu_driver_state                 VARCHAR      same, for NPU (status.driver.npu.state)
-- source                           VARCHAR      list_pools | show_pool: which API call returned the document (run)
-- response_id                      VARCHAR      landed response the document came from (run)
WITH d AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id, source, response_id, p, cn_mode_lower,
           json_extract_string(p.metadata.labels, [
               '$."os.modelarts/name"',
               '$."os.modelarts/workspace.id"',
               '$."os.modelarts/resource.id"'
           ]) AS lab,
           json_extract_string(p.metadata.annotations, [
               '$."os.modelarts/description"',
               '$."os.modelarts/billing.mode"',
               '$."os.modelarts/period.type"',
               '$."os.modelarts/period.num"',
               '$."os.modelarts/auto.renew"',
               '$."os.modelarts/order.id"',
               '$."os.modelarts.pool/subpools.count"'
           ]) AS ann,
           pool_int(p.spec.controlMode) AS cm
    FROM docs
)
SELECT
    snapshot_id,
    snapshot_at,
    region,
    project_id,
    pool_id,
    lab[1] AS display_name,
    coalesce(lab[2], '0') AS workspace_id,
    lab[2] IS NULL AS workspace_id_assumed,
    lab[3] AS resource_id,
    p.spec.type AS pool_type,
    p.status.phase AS phase,
    p.status.message AS message,
    pool_text(p.status.parent) AS parent,
    pool_text(p.status.root) AS root,
    pool_text(p.status.parent) IS NULL AND p.spec.type IS DISTINCT FROM 'Logical' AS is_physical,
    pool_ts(p.metadata.creationTimestamp) AS created_at,
    ann[1] AS description,
    CASE ann[2] WHEN '0' THEN 'pay_per_use' WHEN '1' THEN 'yearly_monthly' ELSE 'unknown' END AS billing_mode,
    CASE WHEN ann[3] IS NULL THEN NULL
         WHEN ann[3] = '2' THEN 'month' WHEN ann[3] = '3' THEN 'year' WHEN ann[3] = '4' THEN 'hour'
         ELSE 'unknown' END AS period_type,
    pool_int(ann[4]) AS period_num,
    pool_bool(ann[5]) AS auto_renew,
    ann[6] AS order_id,
    pool_count(ann[7]) AS subpools_count,
    cm AS control_mode,
    CASE WHEN cm >= 0 THEN (cm & 1) <> 0 END AS cm_to_yearly_monthly_restricted,
    CASE WHEN cm >= 0 THEN (cm & 2) <> 0 END AS cm_flavor_change_restricted,
    CASE WHEN cm >= 0 THEN (cm & 4) <> 0 END AS cm_service_restricted,
    CASE WHEN cm >= 0 THEN (cm & 8) <> 0 END AS cm_frozen,
    CASE WHEN cm >= 0 THEN (cm & 16) <> 0 END AS cm_police_frozen,
    p.spec.network.name AS network_name,
    coalesce(p.spec.containerNetwork.mode, cn_mode_lower) AS container_network_mode,
    p.spec.driver.gpuVersion AS gpu_driver_version,
    p.spec.driver.npuVersion AS npu_driver_version,
    p.spec.driver.updateStrategy AS driver_update_strategy,
    p.status.driver.gpu.state AS gpu_driver_state,
    p.status.driver.npu.state AS npu_driver_state,
    source,
    response_id
FROM d
