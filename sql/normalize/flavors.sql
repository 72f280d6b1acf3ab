-- Table flavors: the resource flavor catalog (GET /v1/{project_id}/resourceflavors, every continue-token page),
-- one row per region x flavor per snapshot. It is fetched once per region and endpoint with each snapshot,
-- through the first project of that region (the catalog describes the region's flavors). A page that is not
-- valid JSON is skipped here (its bytes stay in the raw landing, its call in fetches).
--
-- column              type         meaning (source path in the ResourceFlavor object)
-- snapshot_id         VARCHAR      snapshot, sortable UTC text like 20261128T060000Z (run)
-- snapshot_at         TIMESTAMPTZ  snapshot time, UTC (run)
-- region              VARCHAR      region of the catalog (run)
-- project_id          VARCHAR      project through which the catalog was read (run)
-- flavor              VARCHAR      flavor name, as in pool_resources.flavor (metadata.name)
-- flavor_type         VARCHAR      Dedicate | Logical (spec.type)
-- cpu_arch            VARCHAR      x86 | arm64 (spec.cpuArch)
-- cpu_cores           DOUBLE       vCPUs per node (spec.cpu)
-- memory_gib          DOUBLE       memory per node in GiB, from a k8s quantity such as 16Gi or 6270Mi (spec.memory)
-- accelerator         VARCHAR      gpu | npu | NULL for CPU-only flavors (spec.gpu / spec.npu present)
-- accelerator_type    VARCHAR      e.g. nvidia-t4, ascend-snt9b (spec.gpu.type / spec.npu.type)
-- accelerator_cards   INTEGER      accelerator cards per node (spec.gpu.size / spec.npu.size)
-- accelerator_memory  VARCHAR      memory per card as given, e.g. 32Gi (spec.gpu.memory / spec.npu.memory)
-- billing_modes       INTEGER[]    billing modes the flavor can be bought with: 0 pay-per-use, 1 yearly/monthly
--                                  (spec.billingModes)
-- job_flavors         VARCHAR[]    job flavors a pool of this flavor offers (spec.jobFlavors)
-- soldout_azs         VARCHAR[]    AZs where the flavor is sold out (status.phase.<az> = soldout)
-- az_status           JSON         sale status per AZ as given (status.phase)
-- data_volume_key     VARCHAR      where the node's data disks were read: dataVolumes (the docs' key, an array in
--                                  every example) | dataVolume (the SDK's key, the simulator's older shape) |
--                                  NULL when neither is there (spec.dataVolumes, else spec.dataVolume; each may
--                                  hold an array of disks or one disk object, both are read)
-- data_volume_type    VARCHAR      disk type of the first data disk: SSD | GPSSD | SAS | SATA, open enum
--                                  (spec.dataVolumes[0].volumeType)
-- data_volume_size_gib DOUBLE      size of the first data disk in GiB: "500Gi" -> 500, a k8s quantity converted,
--                                  a bare number taken as GiB (the docs' unit) (spec.dataVolumes[0].size)
-- data_volume_count   INTEGER      data disks listed (elements of the array that are objects; 1 for an object)
-- data_volume_total_gib DOUBLE     sum of the sizes of the listed disks in GiB; NULL when a size is unreadable
WITH docs AS (
    SELECT region, project_id, page, unnest(from_json(json_extract(content, '$.items'), '["JSON"]')) AS doc
    FROM flavor_pages
    WHERE json_valid(content) AND json_type(content, '$.items') = 'ARRAY'
), fields AS (
    SELECT
        region, project_id, page, doc,
        doc ->> '$.metadata.name' AS flavor,
        CASE WHEN json_type(doc, '$.spec.gpu') = 'OBJECT' THEN 'gpu'
             WHEN json_type(doc, '$.spec.npu') = 'OBJECT' THEN 'npu' END AS accelerator,
        CASE WHEN json_type(doc, '$.spec.gpu') = 'OBJECT' THEN json_extract(doc, '$.spec.gpu')
             ELSE json_extract(doc, '$.spec.npu') END AS acc,
        regexp_extract(trim(doc ->> '$.spec.memory'), '^([0-9]*\.?[0-9]+)\s*([A-Za-z]*)$', ['n', 'unit']) AS mem,
        CASE WHEN json_type(doc, '$.spec.dataVolumes') IN ('ARRAY', 'OBJECT') THEN 'dataVolumes'
             WHEN json_type(doc, '$.spec.dataVolume') IN ('ARRAY', 'OBJECT') THEN 'dataVolume' END AS dv_key
    FROM docs
    WHERE json_type(doc) = 'OBJECT'
), volumes AS (
    SELECT *,
           list_filter(CASE json_type(dv) WHEN 'ARRAY' THEN from_json(dv, '["JSON"]') WHEN 'OBJECT' THEN [dv] END,
                       lambda v: json_type(v) = 'OBJECT') AS vols
    FROM (SELECT *, json_extract(doc, '$.spec.' || dv_key) AS dv FROM fields)
), sized AS (
    SELECT *,
           list_transform(vols, lambda v: CASE
               WHEN regexp_full_match(trim(v ->> '$.size'), '[0-9]+(\.[0-9]*)?') THEN TRY_CAST(trim(v ->> '$.size') AS DOUBLE)
               ELSE k8s_quantity(v ->> '$.size') / 1073741824.0 END) AS sizes
    FROM volumes
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
    TRY_CAST(mem.n AS DOUBLE) * CASE mem.unit
        WHEN 'Gi' THEN 1 WHEN '' THEN 1.0 / 1073741824 WHEN 'Mi' THEN 1.0 / 1024 WHEN 'Ki' THEN 1.0 / 1048576
        WHEN 'Ti' THEN 1024 WHEN 'G' THEN 1e9 / 1073741824 WHEN 'M' THEN 1e6 / 1073741824
        WHEN 'T' THEN 1e12 / 1073741824 END AS memory_gib,
    accelerator,
    acc ->> '$.type' AS accelerator_type,
    TRY_CAST(acc ->> '$.size' AS INTEGER) AS accelerator_cards,
    acc ->> '$.memory' AS accelerator_memory,
    CASE WHEN json_type(doc, '$.spec.billingModes') = 'ARRAY'
         THEN list_filter(list_transform(from_json(json_extract(doc, '$.spec.billingModes'), '["JSON"]'),
                                         lambda x: TRY_CAST(x::VARCHAR AS INTEGER)), lambda x: x IS NOT NULL) END
        AS billing_modes,
    CASE WHEN json_type(doc, '$.spec.jobFlavors') = 'ARRAY'
         THEN list_filter(list_transform(from_json(json_extract(doc, '$.spec.jobFlavors'), '["JSON"]'),
                                         lambda x: x ->> '$'), lambda x: x IS NOT NULL) END AS job_flavors,
    CASE WHEN json_type(doc, '$.status.phase') = 'OBJECT'
         THEN list_sort(list_filter(json_keys(json_extract(doc, '$.status.phase')),
                                    lambda k: json_extract_string(json_extract(doc, '$.status.phase'), '$."' || k || '"') = 'soldout')) END
        AS soldout_azs,
    json_extract(doc, '$.status.phase') AS az_status,
    dv_key AS data_volume_key,
    vols[1] ->> '$.volumeType' AS data_volume_type,
    sizes[1] AS data_volume_size_gib,
    CASE WHEN dv_key IS NOT NULL THEN len(vols) END::INTEGER AS data_volume_count,
    CASE WHEN len(vols) > 0 AND NOT list_contains(list_transform(sizes, lambda x: x IS NULL), true)
         THEN list_sum(sizes) END AS data_volume_total_gib
FROM sized
WHERE flavor IS NOT NULL AND trim(flavor) <> ''
-- A flavor listed twice (across pages) is kept once: the first occurrence.
QUALIFY row_number() OVER (PARTITION BY region, project_id, flavor ORDER BY page) = 1
ORDER BY region, flavor
