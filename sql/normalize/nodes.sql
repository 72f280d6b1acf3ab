-- Table nodes: the nodes behind each pool, from ListPoolNodes (GET /v2/{project_id}/pools/{pool_name}/nodes,
-- one call per pool the snapshot read, every metadata.continue page; collect.pool_nodes). One row per snapshot
-- x pool x node (key: snapshot_id, region, project_id, pool_id, node_name). A node listed twice for a pool (a
-- repeated page) is kept once, as first listed. A page that is not valid JSON, and an item that is not an
-- object or has no name, are skipped here (the bytes stay in the raw landing, the call in fetches). A Logical
-- sub-pool's nodes are carved out of its parent's: to count nodes, sum physical pools only (pools.is_physical),
-- or use elastic_quota to see which sub-pool a parent's node serves. Per-resource capacity and allocation: table
-- node_resources.
--
-- column               type         meaning (source path in the Node object)
-- snapshot_id          VARCHAR      snapshot, sortable UTC text like 20261128T060000Z (run)
-- snapshot_at          TIMESTAMPTZ  snapshot time, UTC (run)
-- region               VARCHAR      region of the project (run)
-- project_id           VARCHAR      IAM project id (run)
-- pool_id              VARCHAR      the pool the call asked about (its metadata.name; run)
-- node_name            VARCHAR      node name, e.g. os-node-created-zlncn (metadata.name)
-- phase                VARCHAR      Available | Creating | Deleting | Abnormal | Checking | ... as given (status.phase)
-- az                   VARCHAR      availability zone (status.az)
-- flavor               VARCHAR      node flavor, as in pool_resources.flavor and flavors.flavor (spec.flavor)
-- private_ip           VARCHAR      (status.privateIp)
-- billing_status       VARCHAR      normal ("0") | frozen ("1") | deleted ("2", deleted or terminated); NULL when
--                                   the label is absent or holds another value
--                                   (metadata.labels."os.modelarts/billing.status")
-- billing_status_raw   VARCHAR      that label as given
-- driver_phase         VARCHAR      accelerator driver state on the node, e.g. Running, Upgrading (status.driver.phase;
--                                   read by Huawei's Terraform provider, not in the SDK's model; NULL on CPU nodes)
-- driver_version       VARCHAR      accelerator driver version on the node, e.g. 535.54.03, 24.1.0 (status.driver.version)
-- os_name              VARCHAR      operating system, e.g. EulerOS 2.10 (status.os.name, else spec.os.name)
-- plugins              VARCHAR      node plugins as given, a JSON array of {name, phase, version} (status.plugins)
-- plugins_not_running  INTEGER      plugins whose phase is not Running (a node whose device plugin is down offers
--                                   no accelerators); NULL without status.plugins
-- created_at           TIMESTAMPTZ  node creation time (metadata.creationTimestamp)
-- nodepool             VARCHAR      node pool of a physical pool (metadata.labels."os.modelarts.node/nodepool",
--                                   else ."os.modelarts.node/nodepoolname", else spec.extendParams.nodePoolName)
-- elastic_quota        VARCHAR      the Logical sub-pool the node is bound to
--                                   (metadata.labels."os.modelarts.node/elastic.quota")
-- cluster              VARCHAR      the CCE cluster of the node (metadata.labels."os.modelarts.node/cluster")
-- instance_id          VARCHAR      the underlying ECS/BMS instance id, to match bills
--                                   (metadata.labels."os.modelarts.node/underlying.instance.id")
-- ha_redundant         BOOLEAN      a standby node for high availability, not for workloads
--                                   (metadata.labels."os.modelarts.node/ha.redundant.enabled": "true" | "false")
-- drain                VARCHAR      drain state as given (metadata.annotations."os.modelarts.node/drain")
-- taints               VARCHAR      taints as given, a JSON array of {key, value, effect, timeAdded} (status.taints)
-- unschedulable        BOOLEAN      true when a taint's effect is NoSchedule or NoExecute (no new workload lands
--                                   there); false when there are none; NULL without status.taints
WITH parsed AS (
    SELECT region, project_id, pool_id, node_name,
           from_json(node, '{"metadata": {"labels": "JSON", "annotations": "JSON", "creationTimestamp": "JSON"},
                             "spec": {"flavor": "JSON", "os": "JSON", "extendParams": "JSON"},
                             "status": {"phase": "JSON", "az": "JSON", "privateIp": "JSON", "driver": "JSON",
                                        "os": "JSON", "plugins": "JSON", "taints": "JSON"}}') AS n
    FROM node_items
),
taints AS (
    SELECT region, project_id, pool_id, node_name,
           bool_or(json_scalar(t, '$.effect') IN ('NoSchedule', 'NoExecute')) AS tainted
    FROM (SELECT region, project_id, pool_id, node_name, unnest(from_json(n.status.taints, '["JSON"]')) AS t
          FROM parsed WHERE json_type(n.status.taints) = 'ARRAY')
    GROUP BY ALL
),
plugins AS (
    SELECT region, project_id, pool_id, node_name,
           count(*) FILTER (WHERE json_scalar(pl, '$.phase') IS DISTINCT FROM 'Running') AS not_running
    FROM (SELECT region, project_id, pool_id, node_name, unnest(from_json(n.status.plugins, '["JSON"]')) AS pl
          FROM parsed WHERE json_type(n.status.plugins) = 'ARRAY')
    GROUP BY ALL
)
SELECT
    $snapshot_id::VARCHAR AS snapshot_id,
    $snapshot_at::TIMESTAMPTZ AS snapshot_at,
    p.region,
    p.project_id,
    p.pool_id,
    p.node_name,
    json_scalar(p.n.status.phase, '$') AS phase,
    json_scalar(p.n.status.az, '$') AS az,
    json_scalar(p.n.spec.flavor, '$') AS flavor,
    json_scalar(p.n.status.privateIp, '$') AS private_ip,
    CASE trim(json_scalar(p.n.metadata.labels, '$."os.modelarts/billing.status"'))
        WHEN '0' THEN 'normal' WHEN '1' THEN 'frozen' WHEN '2' THEN 'deleted' END AS billing_status,
    json_scalar(p.n.metadata.labels, '$."os.modelarts/billing.status"') AS billing_status_raw,
    json_scalar(p.n.status.driver, '$.phase') AS driver_phase,
    json_scalar(p.n.status.driver, '$.version') AS driver_version,
    coalesce(json_scalar(p.n.status.os, '$.name'), json_scalar(p.n.spec.os, '$.name')) AS os_name,
    CASE WHEN json_type(p.n.status.plugins) = 'ARRAY' THEN json(p.n.status.plugins)::VARCHAR END AS plugins,
    CASE WHEN json_type(p.n.status.plugins) = 'ARRAY' THEN coalesce(pl.not_running, 0)::INTEGER
    END AS plugins_not_running,
    pool_ts(json_scalar(p.n.metadata.creationTimestamp, '$')) AS created_at,
    coalesce(json_scalar(p.n.metadata.labels, '$."os.modelarts.node/nodepool"'),
             json_scalar(p.n.metadata.labels, '$."os.modelarts.node/nodepoolname"'),
             json_scalar(p.n.spec.extendParams, '$.nodePoolName')) AS nodepool,
    json_scalar(p.n.metadata.labels, '$."os.modelarts.node/elastic.quota"') AS elastic_quota,
    json_scalar(p.n.metadata.labels, '$."os.modelarts.node/cluster"') AS cluster,
    json_scalar(p.n.metadata.labels, '$."os.modelarts.node/underlying.instance.id"') AS instance_id,
    pool_bool(json_scalar(p.n.metadata.labels, '$."os.modelarts.node/ha.redundant.enabled"')) AS ha_redundant,
    json_scalar(p.n.metadata.annotations, '$."os.modelarts.node/drain"') AS drain,
    CASE WHEN json_type(p.n.status.taints) = 'ARRAY' THEN json(p.n.status.taints)::VARCHAR END AS taints,
    CASE WHEN json_type(p.n.status.taints) = 'ARRAY' THEN coalesce(t.tainted, false) END AS unschedulable
FROM parsed AS p
LEFT JOIN taints AS t USING (region, project_id, pool_id, node_name)
LEFT JOIN plugins AS pl USING (region, project_id, pool_id, node_name)
ORDER BY p.region, p.project_id, p.pool_id, p.node_name
