"""The Dagster job against the simulator over real HTTP: materialize, checks, the resulting DuckDB file."""

import dagster as dg
import pytest

from lakekit import query_catalog
from pipeline.assets.resources import resources_for
from pipeline.assets.snapshot import TABLES, inventory_catalog, pool_tables, raw_snapshot
from pipeline.definitions import build_definitions
from pipeline.check.checks import CHECKS, WARN_CHECKS
from pipeline.simulator import Faults, SimulatorConfig, run_simulator

AK, SK = "AKDAGSTERTEST0000001", "dagster-test-sk-0123456789abcdefghijklm"


query = query_catalog


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", AK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", SK)


def test_asset_graph_is_pinned():
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    keys = sorted(k.to_user_string() for k in graph.get_all_asset_keys())
    assert keys == sorted(["raw_snapshot", "inventory_catalog", *TABLES, "pool_changes", "pool_versions",
                           "capacity_utilization", "billing_modes", "subscriptions", "idle_capacity", "pressure",
                           "report_exports",
                           "lake_compaction"])
    assert set(TABLES) == {"snapshots", "fetches", "flavors", "virtual_flavors", "projects", "pools", "pool_labels",
                           "pool_annotations", "pool_scopes",
                           "pool_resources", "pool_resource_azs", "pool_capacity", "pool_capacity_azs",
                           "pool_job_flavors", "pool_flavor_resources", "rejected_documents", "pool_allocation", "pool_workload_counts",
                           "pool_metrics", "nodes", "node_resources", "workload_statistics",
                           "pool_events"}
    for table in TABLES:
        assert graph.get(dg.AssetKey(table)).parent_keys == {dg.AssetKey("raw_snapshot")}
    # The flow's order (pipeline/flow.py): land -> normalize/check/commit -> history -> reports/catalog/cleanup.
    assert graph.get(dg.AssetKey("inventory_catalog")).parent_keys == {
        dg.AssetKey(t) for t in (*TABLES, "pool_changes", "pool_versions")}
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert checks == {(table, name) for name, table in {**CHECKS, **WARN_CHECKS}.items()}
    assert {k.name for k in graph.asset_check_keys if graph.get_check_spec(k).blocking} == set(CHECKS)
    assert WARN_CHECKS == {"every_target_readable": "fetches"}
    # Owners, tags and a code_version on every asset; the SQL that makes a table's rows is in its code_version.
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == ["team:capacity-platform"], key
        assert node.tags.get("source") == "modelarts" and node.tags.get("layer"), key
        assert node.code_version, key
    assert "+" in graph.get(dg.AssetKey("pools")).code_version  # version + digest of sql/normalize and sql/checks
    # Typed columns before any run, from the SQL headers, spelled as DuckDB spells them (as a run's metadata).
    columns = {c.name: c.type for c in graph.get(dg.AssetKey("pools")).metadata["dagster/column_schema"].columns}
    assert columns["snapshot_at"] == "TIMESTAMP WITH TIME ZONE" and columns["is_physical"] == "BOOLEAN"
    assert columns["period_num"] == "INTEGER" and "string" not in columns.values()
    changes = {c.name: c.type for c in
               graph.get(dg.AssetKey("pool_changes")).metadata["dagster/column_schema"].columns}
    assert changes["changed_fields"] == "VARCHAR[]" and changes["display_name"] == "VARCHAR"
    # The landing is in the API's concurrency pool; without a config, the default pool.
    assert defs.resolve_assets_def("raw_snapshot").op.pool == "modelarts_api"
    schedule = defs.resolve_schedule_def("snapshot_schedule")
    assert schedule.cron_schedule == "0 * * * *"
    for history in ("pool_changes", "pool_versions"):
        assert graph.get(dg.AssetKey(history)).parent_keys == {dg.AssetKey(t) for t in TABLES}
    for report in ("capacity_utilization", "billing_modes", "subscriptions", "idle_capacity", "pressure"):
        node = graph.get(dg.AssetKey(report))
        assert node.partitions_def is not None and node.partitions_def.get_partition_keys()[0] == "2026-01-01"
        assert dg.AssetKey("pool_changes") in node.parent_keys and dg.AssetKey("pools") in node.parent_keys
    assert graph.get(dg.AssetKey("report_exports")).parent_keys == {
        dg.AssetKey(r) for r in ("capacity_utilization", "billing_modes", "subscriptions", "idle_capacity",
                                 "pressure")}
    assert defs.resolve_schedule_def("daily_reports_schedule").cron_schedule == "15 1 * * *"
    compaction = graph.get(dg.AssetKey("lake_compaction"))
    assert compaction.parent_keys == {dg.AssetKey(t) for t in TABLES}
    assert compaction.partitions_def.get_partition_keys()[0] == "2026-01-01"
    assert defs.resolve_schedule_def("compaction_schedule").cron_schedule == "30 0 * * *"
    assert set(defs.resolve_job_def("snapshot_job").asset_layer.selected_asset_keys) == {
        dg.AssetKey(k) for k in ("raw_snapshot", *TABLES, "pool_changes", "pool_versions", "inventory_catalog")}
    assert {n.name for n in defs.resolve_job_def("renormalize_job").nodes} == {
        "renormalized_tables", "renormalized_catalog"}


def test_schedule_cron_comes_from_the_config(tmp_path):
    cfg = tmp_path / "poolscope.yaml"
    cfg.write_text("storage: {root: d}\nschedule: {cron: '15 */2 * * *'}\n"
                   "targets: [{region: cn-north-4, project_id: p1}]\n")
    assert build_definitions(str(cfg)).resolve_schedule_def("snapshot_schedule").cron_schedule == "15 */2 * * *"


def test_materialize_snapshot_against_the_simulator(tmp_path, env):
    config = SimulatorConfig(projects=4, pools_per_project=6, seed=21, ak=AK, sk=SK,
                             faults=Faults(forbidden_projects=1, error_rate=0.1, seed=3))
    with run_simulator(config) as sim:
        cfg = tmp_path / "poolscope.yaml"
        sim.write_config(cfg, storage_root="./data")
        # every per-pool family on (off by default): Dagster lands and normalizes them like the CLI
        cfg.write_text(cfg.read_text() + "collect: {pool_nodes: true, workload_statistics: true, pool_events: true, "
                                         "pool_monitor: true}\n")
        expected_pools = sum(len(sim.fleet.pools(p.id)) for p in sim.projects if not p.forbidden)
        # Virtual flavors are read once per readable region whose listings hold a Logical pool.
        logical_regions = len({p.region for p in sim.projects if not p.forbidden
                               and any(d["spec"]["type"] == "Logical" for d in sim.fleet.pools(p.id))})
        result = dg.materialize(
            [raw_snapshot, pool_tables, inventory_catalog],
            resources=resources_for(str(cfg)),
        )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert {c.check_name for c in checks} == {*CHECKS, *WARN_CHECKS}
    assert all(c.passed for c in checks if c.check_name in CHECKS), [c for c in checks if not c.passed]
    # The forbidden project is no longer green: the WARN check names it (and blocks nothing: the catalog is built).
    readable = next(c for c in checks if c.check_name == "every_target_readable")
    assert not readable.passed and readable.severity == dg.AssetCheckSeverity.WARN
    forbidden = next(p.id for p in sim.projects if p.forbidden)
    assert readable.metadata["offending_rows"].value == 1
    assert forbidden in str(readable.metadata["sample"].value)
    mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    assert "inventory_catalog" in mats
    pools_meta = mats["pools"].materialization.metadata
    assert pools_meta["dagster/row_count"].value == expected_pools
    assert "pool_id" in pools_meta["preview"].value
    db = tmp_path / "data" / "inventory.duckdb"
    assert query(db, "SELECT count(*) FROM pools") == [[expected_pools]]
    assert query(db, "SELECT status, targets, targets_ok, targets_failed FROM snapshots") == [["partial", 4, 3, 1]]
    assert query(db, "SELECT call, count(*), count(*) FILTER (WHERE outcome = 'error') FROM fetches "
                     "GROUP BY ALL ORDER BY 1") == [["list_pools", 4, 1], ["list_resource_flavors", 3, 0],
                                                    ["list_virtual_resource_flavors", logical_regions, 0],
                                                    ["pool_events", expected_pools, 0],  # one page per pool read
                                                    ["pool_monitor", 2 * expected_pools, 0],  # average, maximum
                                                    ["pool_nodes", expected_pools, 0],  # one per pool read
                                                    ["project_names", 4, 0],  # one IAM call per region (4)
                                                    ["runtime_metrics", 3, 0],  # one per readable project
                                                    ["workload_statistics", expected_pools, 0]]  # one per pool read
    # the names people know, for every project (IAM lists the forbidden one too: ModelArts refused it, not IAM)
    names = {p.id: (p.region, p.name) for p in sim.projects}
    got = {pid: (region, name) for pid, region, name in query(db, "SELECT project_id, region, name FROM projects")}
    assert got == names and len(got) == 4
    assert query(db, "SELECT count(DISTINCT region), count(*) > 0, bool_and(cpu_cores > 0) FROM flavors") == [
        [3, True, True]]
    assert logical_regions > 0  # the fleet of this seed has sub-pools: the call is exercised
    assert query(db, "SELECT count(DISTINCT region), count(*), count(*) FILTER (WHERE visibility = 'invisible') "
                     "FROM virtual_flavors") == [[logical_regions, 3 * logical_regions, logical_regions]]
    comments = query(db, "SELECT comment FROM duckdb_columns() WHERE table_name = 'pools' AND column_name = 'billing_mode'")
    assert "pay_per_use" in comments[0][0]
    # Every table and every column of the catalog is documented.
    undocumented = query(db, "SELECT table_name, column_name FROM duckdb_columns() c JOIN duckdb_views() v "
                             "ON c.table_name = v.view_name WHERE NOT v.internal AND c.comment IS NULL")
    assert undocumented == []
    assert query(db, "SELECT count(*) FROM duckdb_views() WHERE NOT internal AND comment IS NULL") == [[0]]
    assert query(db, "SELECT DISTINCT data_type FROM duckdb_columns() WHERE column_name = 'snapshot_day'") == [["DATE"]]


def test_a_failed_blocking_check_stops_the_catalog(tmp_path, env):
    config = SimulatorConfig(projects=2, pools_per_project=2, seed=1, ak=AK, sk=SK,
                             faults=Faults(forbidden_projects=2))
    with run_simulator(config) as sim:
        cfg = tmp_path / "poolscope.yaml"
        sim.write_config(cfg, storage_root="./data")
        result = dg.materialize(
            [raw_snapshot, pool_tables, inventory_catalog],
            resources=resources_for(str(cfg)),
            raise_on_error=False,
        )
    failed = {c.check_name for c in result.get_asset_check_evaluations() if not c.passed}
    assert failed == {"at_least_one_target_ok", "every_target_readable"}
    mats = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert "snapshots" in mats and "inventory_catalog" not in mats
    assert not (tmp_path / "data" / "inventory.duckdb").exists()


def test_the_api_pool_is_named_after_the_configs_endpoints(tmp_path):
    cfg = tmp_path / "poolscope.yaml"
    cfg.write_text("storage: {root: d}\ntargets:\n  - {region: cn-north-4, project_id: p1}\n"
                   "  - {region: cn-north-4, project_id: p2}\n"
                   "  - {region: ap-southeast-1, project_id: p3, endpoint: 'http://127.0.0.1:8080'}\n")
    raw = build_definitions(str(cfg)).resolve_assets_def("raw_snapshot")
    assert raw.op.pool == "modelarts_api/127.0.0.1:8080+modelarts.cn-north-4.myhuaweicloud.com"


def test_a_bad_config_fails_the_code_location_load_naming_the_file_and_key(tmp_path):
    cfg = tmp_path / "poolscope.yaml"
    cfg.write_text("storage: {root: d}\nschedule: {cron: 'every hour'}\ntargets: [{region: cn-north-4, project_id: p1}]\n")
    with pytest.raises(Exception) as caught:
        build_definitions(str(cfg))
    assert str(cfg) in str(caught.value) and "schedule.cron" in str(caught.value)
