-- Table virtual_flavors: the virtual resource flavors of Logical pools (GET /v1/{project_id}/virtualresourceflavors,
-- every page), one row per region x virtual flavor per snapshot. They are slices of an Ascend NPU node that a
-- Logical sub-pool can be sized in, each cut from a virtual resource template; the SDK (3.1.219) has no call for
-- them, and the flavors table (resourceflavors) does not list them. Read once per region and endpoint, beside the
-- flavor catalog and through the same project, only when that snapshot's pool answers in the region showed a
-- Logical pool (1 call per such region). A page that is not valid JSON is skipped here (its bytes stay in the raw
-- landing, its call in fetches).
--
-- column                     type         meaning (source path in the ResourceFlavor object)
-- snapshot_id                VARCHAR      snapshot, sortable UTC text like 20261128T060000Z (run)
-- snapshot_at                TIMESTAMPTZ  snapshot time, UTC (run)
-- region                     VARCHAR      region of the list (run)
-- project_id                 VARCHAR      project through which it was read (run)
-- flavor                     VARCHAR      virtual flavor name, e.g. snt9-280t-vir10-3c-16g (metadata.name)
-- flavor_type                VARCHAR      Logical in the docs' example, open (spec.type)
-- cpu_arch                   VARCHAR      x86 | arm64 (spec.cpuArch)
-- cpu_cores                  DOUBLE       vCPUs of the slice (spec.cpu)
-- memory_gib                 DOUBLE       memory of the slice in GiB, from a k8s quantity such as 32Gi (spec.memory)
-- npu_type                   VARCHAR      virtual NPU allocation type, as in its template (spec.npu.type)
-- npu_size                   VARCHAR      virtual NPUs, "1" per the docs (spec.npu.size, as given)
-- npu_resource_key           VARCHAR      resource key of the virtual NPU allocation (spec.npu.resourceKey)
-- virtual_resource_template  VARCHAR      name of the virtual resource template the flavor is cut from, as
--                                         GET /v1/{project_id}/virtualresourcetemplates/{name} takes it
--                                         (spec.virtualResourceTemplateName)
-- visibility                 VARCHAR      visible | invisible as given (spec.visibility; in the docs' example
--                                         only, not in their table): whether the console offers the flavor
-- labels                     JSON         metadata.labels as given
WITH docs AS (
    SELECT region, project_id, page, unnest(from_json(json_extract(content, '$.items'), '["JSON"]')) AS doc
    FROM virtual_flavor_pages
    WHERE json_valid(content) AND json_type(content, '$.items') = 'ARRAY'
), fields AS (
    SELECT region, project_id, page, doc, doc ->> '$.metadata.name' AS flavor,
           CASE WHEN json_type(doc, '$.spec.npu') = 'OBJECT' THEN json_extract(doc, '$.spec.npu') END AS npu
    FROM docs
    WHERE json_type(doc) = 'OBJECT'
)
SELECT
    $snapshot_id::VARCHAR AS snapshot_id,
    $snapshot_at::TIMESTAMPTZ AS snapshot_at,
    region,
    project_id,
    flavor,
    doc ->> '$.spec.type' AS flavor_type,
    doc ->> '$.spec.cpuArch' AS cpu_arch,
    TRY_CAST(doc ->> '$.spec.cpu' AS DOUBLE) AS cpu_cores,
    k8s_quantity(doc ->> '$.spec.memory') / 1073741824.0 AS memory_gib,
    npu ->> '$.type' AS npu_type,
    npu ->> '$.size' AS npu_size,
    npu ->> '$.resourceKey' AS npu_resource_key,
    doc ->> '$.spec.virtualResourceTemplateName' AS virtual_resource_template,
    doc ->> '$.spec.visibility' AS visibility,
    json_extract(doc, '$.metadata.labels') AS labels
FROM fields
WHERE flavor IS NOT NULL AND trim(flavor) <> ''
-- A flavor listed twice (across pages) is kept once: the first occurrence.
QUALIFY row_number() OVER (PARTITION BY region, project_id, flavor ORDER BY page) = 1
ORDER BY region, flavor
