-- Table node_resources: what each node offers and what workloads hold on it, per resource key, from ListPoolNodes
-- (see nodes; collect.pool_nodes). One row per snapshot x pool x node x resource key named in status.resources or
-- status.availableResources (key: snapshot_id, region, project_id, pool_id, node_name, resource). allocated =
-- resources - availableResources (utilization reference section 4): requests of the workloads placed on the node,
-- not measured use. Accelerator keys are the node-side names (huawei.com/ascend-snt9 where ShowPoolRuntimeMetrics
-- says huawei.com/ascend-1980): map them to an accelerator type through the flavor (nodes.flavor -> flavors),
-- not by name. Nodes skipped by nodes are skipped here too; a quantity that is not one gives NULL with its raw
-- text kept, and a node without availableResources (e.g. still Creating) has NULL available and allocated.
--
-- column         type         meaning (source path in the Node object)
-- snapshot_id    VARCHAR      snapshot, sortable UTC text like 20261128T060000Z (run)
-- snapshot_at    TIMESTAMPTZ  snapshot time, UTC (run)
-- region         VARCHAR      region of the project (run)
-- project_id     VARCHAR      IAM project id (run)
-- pool_id        VARCHAR      the pool the call asked about (run)
-- node_name      VARCHAR      node name (metadata.name), as in nodes
-- resource       VARCHAR      resource key as given: cpu, memory, nvidia.com/gpu, huawei.com/ascend-snt9, ...
-- unit           VARCHAR      cores (cpu) | bytes (memory) | cards (every other key), as in pool_allocation
-- capacity       DOUBLE       what the node offers, in unit (status.resources.<key>)
-- available      DOUBLE       what is left for new workloads, in unit (status.availableResources.<key>)
-- allocated      DOUBLE       capacity - available, in unit; NULL when either is NULL
-- capacity_raw   VARCHAR      the quantity as given, e.g. 5, "1073m", "15548Mi"
-- available_raw  VARCHAR      as capacity_raw
WITH named AS (
    SELECT region, project_id, pool_id, node_name,
           from_json(node, '{"status": {"resources": "JSON", "availableResources": "JSON"}}').status AS st
    FROM node_items
),
-- every member of the two maps, read by key (keys hold dots and slashes: no JSON paths)
entries AS (
    SELECT n.region, n.project_id, n.pool_id, n.node_name, 'capacity' AS side, e.key AS resource,
           json_quantity_text(e.value) AS raw
    FROM named AS n, json_each(n.st.resources) AS e
    WHERE json_type(n.st.resources) = 'OBJECT'
    UNION ALL
    SELECT n.region, n.project_id, n.pool_id, n.node_name, 'available', e.key, json_quantity_text(e.value)
    FROM named AS n, json_each(n.st.availableResources) AS e
    WHERE json_type(n.st.availableResources) = 'OBJECT'
),
wide AS (
    SELECT region, project_id, pool_id, node_name, resource,
           any_value(raw) FILTER (WHERE side = 'capacity') AS capacity_raw,
           any_value(raw) FILTER (WHERE side = 'available') AS available_raw
    FROM entries
    GROUP BY ALL
)
SELECT
    $snapshot_id::VARCHAR AS snapshot_id,
    $snapshot_at::TIMESTAMPTZ AS snapshot_at,
    region,
    project_id,
    pool_id,
    node_name,
    resource,
    CASE resource WHEN 'cpu' THEN 'cores' WHEN 'memory' THEN 'bytes' ELSE 'cards' END AS unit,
    k8s_quantity(capacity_raw) AS capacity,
    k8s_quantity(available_raw) AS available,
    k8s_quantity(capacity_raw) - k8s_quantity(available_raw) AS allocated,
    capacity_raw,
    available_raw
FROM wide
ORDER BY region, project_id, pool_id, node_name, resource
