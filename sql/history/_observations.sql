-- Non-table step 1: one row per presence observation (a pool row in `pools`), with a hash of its content.
-- history.py materializes this SELECT as TEMP TABLE _h_obs. This is the only step that reads every row of every
-- pool table; the later steps work on this table, and re-read the lake only for the few observations where a
-- version starts (_starts.sql).
--
-- Content of a pool: its `pools` row minus snapshot_id, snapshot_at, snapshot_day, source, response_id (and the
-- key region, project_id, pool_id), plus its rows in pool_labels, pool_annotations, pool_scopes, pool_resources,
-- pool_resource_azs, pool_capacity, pool_capacity_azs, pool_job_flavors (see _entries.sql for the field paths).
-- The hash: hash() of the pools columns, combined with the SUM of one hash() per child row (tagged with its
-- table). A sum does not depend on row order, so no sorting is needed: one aggregate over all child rows, grouped
-- by okey = hash(snapshot_at, region, project_id, pool_id), a single 64-bit key (about twice as fast as grouping
-- on two or more columns, and this aggregate is most of the run time).
-- Equal content gives equal hashes. The converse is left to _diffs.sql, which checks every candidate field by
-- field on exact keys: two observations sharing an okey (odds about 1e-6 for 4 million rows), or two that differ
-- only in what the field map does not show (a label key sent twice, a flavor split over node pools), only make
-- a candidate that has no changed field and is dropped there. A change is missed only if two different
-- contents of one pool have the same 64-bit hash.
-- The table is kept narrow (no text but workspace_id): carrying snapshot_id, region, project_id and pool_id
-- through this step and the window of _seq.sql took twice as long. _keys.sql and _snaps.sql give them back
-- for the few rows that need them.
--   snapshot_at   TIMESTAMPTZ  snapshot time of the observation
--   pkey          UBIGINT      hash(region, project_id, pool_id): the pool key used by every later step
--                              (_keys.sql; history.py checks that no two pools share one)
--   workspace_id  VARCHAR      pools.workspace_id (decides which workspace-filtered listings can see the pool)
--   h             UBIGINT      content hash
WITH kids AS (
    SELECT hash(snapshot_at, region, project_id, pool_id) AS okey, hash('labels', key, value) AS h
    FROM pool_labels
    UNION ALL
    SELECT hash(snapshot_at, region, project_id, pool_id), hash('annotations', key, value)
    FROM pool_annotations
    UNION ALL
    SELECT hash(snapshot_at, region, project_id, pool_id), hash('scopes', scope_type, requested, state)
    FROM pool_scopes
    UNION ALL
    SELECT hash(snapshot_at, region, project_id, pool_id), hash('resources', flavor, count, max_count)
    FROM pool_resources
    UNION ALL
    SELECT hash(snapshot_at, region, project_id, pool_id), hash('resource_azs', flavor, az, count)
    FROM pool_resource_azs
    UNION ALL
    SELECT hash(snapshot_at, region, project_id, pool_id), hash('capacity', state, flavor, count, max_count)
    FROM pool_capacity
    UNION ALL
    SELECT hash(snapshot_at, region, project_id, pool_id), hash('capacity_azs', state, flavor, az, count)
    FROM pool_capacity_azs
    UNION ALL
    SELECT hash(snapshot_at, region, project_id, pool_id), hash('job_flavors', job_flavor)
    FROM pool_job_flavors
),
kid_h AS (
    SELECT okey, sum(h) AS h
    FROM kids
    GROUP BY okey
),
p AS (
    SELECT snapshot_at, workspace_id,
           hash(region, project_id, pool_id) AS pkey,
           hash(snapshot_at, region, project_id, pool_id) AS okey,
           hash(display_name, workspace_id, resource_id, pool_type, phase, message, parent, root, is_physical,
                created_at, description, billing_mode, period_type, period_num, auto_renew, order_id,
                subpools_count, control_mode, cm_to_yearly_monthly_restricted, cm_flavor_change_restricted,
                cm_service_restricted, cm_frozen, cm_police_frozen, network_name, container_network_mode,
                gpu_driver_version, npu_driver_version, driver_update_strategy, gpu_driver_state,
                npu_driver_state) AS h_row
    FROM pools
)
SELECT p.snapshot_at, p.pkey, p.workspace_id, hash(p.h_row, coalesce(k.h, 0)) AS h
FROM p
LEFT JOIN kid_h AS k ON k.okey = p.okey
