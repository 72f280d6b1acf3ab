"""GET /v1/{project_id}/virtualresourceflavors in a snapshot: read beside the flavor catalog, once per region whose
pool answers held a Logical pool, through the simulator; table virtual_flavors.

By hand from the simulator's fleets (checked in the tests): seed 6 with 4 projects x 2 pools has Logical pools in
cn-north-4 and ap-southeast-1 only; seed 1 with 1 pool per project has none. The simulator serves the docs'
example flavor and two shaped after the docs' table (pipeline/simulator/catalog.py VIRTUAL_FLAVORS)."""

import yaml

from lakekit import query_catalog
from pipeline.config import load_config
from pipeline.flow import run_snapshot
from pipeline.lake.layout import Layout
from pipeline.modelarts import AkSkCredentials
from pipeline.simulator import SimulatorConfig, run_simulator

AK, SK = "AKVIRTUALFLAVORS0001", "virtual-flavors-sk-0123456789abcdefghijk"

# flavor, type, arch, cpu, memory GiB, npu type, npu size, resource key, template, visibility, labels
SERVED = [
    ["snt9-280t-vir05-3c-16g", "Logical", "arm64", 4.0, 16.0, "vir05_3c_16g", "1",
     "huawei.com/ascend-snt9-vir05-3c-16g", "snt9-280t", "visible", "{}"],
    ["snt9-280t-vir10-3c-16g", "Logical", "arm64", 8.0, 32.0, None, None, None, "snt9-280t", "invisible", "{}"],
    ["snt9b-vir08-5c-32g", "Logical", "arm64", 12.0, 48.0, "vir08_5c_32g", "1",
     "huawei.com/ascend-snt9b-vir08-5c-32g", "snt9b-256t", "visible", "{}"],
]


def _snapshot(tmp_path, *, seed: int, pools: int, fail: bool = False):
    with run_simulator(SimulatorConfig(projects=4, pools_per_project=pools, seed=seed, ak=AK, sk=SK)) as sim:
        path = sim.write_config(tmp_path / "poolscope.yaml", storage_root="./data")
        data = yaml.safe_load(path.read_text())
        data["fetch"] = {"max_attempts": 2, "project_names": False}
        path.write_text(yaml.safe_dump(data))
        if fail:
            sim.inject("error", count=100, path_contains="/virtualresourceflavors", status=503)
        result = run_snapshot(load_config(path), credentials=AkSkCredentials(AK, SK), snapshot_at=sim.fleet.now)
        logical = sorted({p.region for p in sim.projects
                          if any(d["spec"]["type"] == "Logical" for d in sim.fleet.pools(p.id))})
    return result, logical, Layout(tmp_path / "data").catalog


def test_read_once_per_region_with_a_logical_pool(tmp_path):
    result, logical, db = _snapshot(tmp_path, seed=6, pools=2)
    assert logical == ["ap-southeast-1", "cn-north-4"]
    assert result.status == "complete"
    calls = query_catalog(db, "SELECT region, outcome, http_status FROM fetches "
                              "WHERE call = 'list_virtual_resource_flavors' ORDER BY 1")
    assert calls == [["ap-southeast-1", "ok", 200], ["cn-north-4", "ok", 200]]
    got = query_catalog(db, "SELECT region, flavor, flavor_type, cpu_arch, cpu_cores, memory_gib, npu_type, "
                            "npu_size, npu_resource_key, virtual_resource_template, visibility, labels::VARCHAR "
                            "FROM virtual_flavors ORDER BY 1, 2")
    assert got == [[region, *row] for region in logical for row in SERVED]
    # read through the project that read the flavor catalog of its region
    assert query_catalog(db, "SELECT count(*) FROM virtual_flavors v JOIN (SELECT DISTINCT region, project_id "
                             "FROM fetches WHERE call = 'list_resource_flavors') f USING (region, project_id)") == [[6]]
    assert query_catalog(db, "SELECT flavor_calls_failed FROM snapshots") == [[0]]


def test_no_logical_pool_no_call(tmp_path):
    result, logical, db = _snapshot(tmp_path, seed=1, pools=1)
    assert logical == [] and result.status == "complete"
    assert query_catalog(db, "SELECT count(*) FROM fetches WHERE call = 'list_virtual_resource_flavors'") == [[0]]
    assert query_catalog(db, "SELECT count(*) FROM virtual_flavors") == [[0]]
    assert query_catalog(db, "SELECT count(*) > 0 FROM flavors") == [[True]]


def test_a_failed_call_costs_the_virtual_flavors_only_and_is_counted(tmp_path):
    result, logical, db = _snapshot(tmp_path, seed=6, pools=2, fail=True)
    assert result.status == "complete" and result.targets_failed == 0
    assert query_catalog(db, "SELECT flavor_calls_failed FROM snapshots") == [[len(logical)]]
    assert query_catalog(db, "SELECT count(*) FROM virtual_flavors") == [[0]]
    assert query_catalog(db, "SELECT count(*) > 0 FROM flavors") == [[True]]
