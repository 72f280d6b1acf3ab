-- Table pool_flavor_resources: one row per pool per flavor named in its os.modelarts/flavor.resource.ids
-- annotation: the CBC (billing) resource id of that flavor's nodes, e.g. {"modelarts.vm.cpu.8ud":
-- "maos.vm.cpu.8ud.1976103046"} (ShowPool docs, Table 6: "the resource ID corresponding to each flavor, used for
-- interaction with CBC"). The billing reports and an invoice join it on (region, project_id, pool_id, flavor),
-- e.g. with pool_resources or pool_capacity. An annotation that is not a JSON object gives no rows: it stays raw
-- in pool_annotations, with a warning row in rejected_documents.
--
-- column       type         meaning (source path)
-- snapshot_id  VARCHAR      snapshot (run)
-- snapshot_at  TIMESTAMPTZ  snapshot time, UTC (run)
-- region       VARCHAR      region (run)
-- project_id   VARCHAR      IAM project id (run)
-- pool_id      VARCHAR      pool id (metadata.name)
-- flavor       VARCHAR      flavor name, as in pool_resources.flavor (a key of the annotation's JSON object)
-- resource_id  VARCHAR      CBC resource id of the flavor in this pool (its value: a JSON string as its text, any
--                           other JSON value as its JSON text, null as NULL)
--                           (metadata.annotations."os.modelarts/flavor.resource.ids")
WITH a AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id,
           json_extract_string(p.metadata.annotations, '$."os.modelarts/flavor.resource.ids"') AS ids
    FROM docs
    WHERE contains(p.metadata.annotations::VARCHAR, 'os.modelarts/flavor.resource.ids')
      AND json_type(p.metadata.annotations) = 'OBJECT'
), kv AS (
    SELECT snapshot_id, snapshot_at, region, project_id, pool_id,
           json_keys(ids) AS keys, json_extract_string(ids, '$.*') AS vals
    FROM a
    WHERE coalesce(CASE WHEN json_valid(ids) THEN json_type(ids) = 'OBJECT' END, false)
)
SELECT snapshot_id, snapshot_at, region, project_id, pool_id,
       unnest(keys) AS flavor,
       unnest(vals) AS resource_id
FROM kv
