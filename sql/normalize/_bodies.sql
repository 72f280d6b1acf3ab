-- Non-table step 0c: one row per BodyRef, in input order. normalize.py materializes this SELECT as TABLE _bodies
-- from the Arrow relation _bodies_arrow it registers (built column-wise from the BodyRef list).
--   body_idx     INTEGER      position in normalize()'s input; earlier wins on duplicate pool ids
--   snapshot_id  snapshot_id_t (ENUM, written to Parquet as VARCHAR; see _types.sql)  BodyRef.snapshot_id
--   snapshot_at  TIMESTAMPTZ  BodyRef.snapshot_at, UTC
--   region       region_t     BodyRef.region
--   project_id   project_id_t BodyRef.project_id
--   source       VARCHAR      BodyRef.source (list_pools | show_pool; anything else is rejected)
--   path         VARCHAR      BodyRef.path
--   response_id  response_id_t BodyRef.response_id
--   readable     BOOLEAN      the path is a readable regular file (checked in Python before reading)
SELECT body_idx,
       snapshot_id::snapshot_id_t AS snapshot_id,
       snapshot_at,
       region::region_t AS region,
       project_id::project_id_t AS project_id,
       source,
       path,
       response_id::response_id_t AS response_id,
       readable
FROM _bodies_arrow
