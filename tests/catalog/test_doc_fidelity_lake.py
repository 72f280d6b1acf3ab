"""Issue 17 through the whole pipeline (landing, normalize, commit, catalog, reports): a Logical sub-pool whose
status has not named its parent yet is not summed with the physical pools; an unlabelled pool is found in the
default workspace; pool_flavor_resources joins what billing needs.

Fleet, by hand (one snapshot, r1/p1, flavor f1):
    phys       Dedicate, no workspace label, pay-per-use, requested f1:4, available f1:4,
               flavor.resource.ids {"f1": "res-f1"}
    sub-new    Logical, the create response's shape: status {}, requested f1:2, workspace "ws-b"
    sub-early  Logical, status with nodes (available f1:3) but no parent yet, requested f1:3
Physical sums therefore count phys only: 4 nodes available, 4 requested (not 7 and 9)."""

from datetime import date

import duckdb

from lakekit import flavor_doc, pool_doc, publish_snapshot, utc
from pipeline.reports.tables import report_arrow


def _lake(tmp_path):
    phys = pool_doc("phys", workspace_id=None, requested={"f1": 4}, available={"f1": 4},
                    annotations={"os.modelarts/flavor.resource.ids": '{"f1":"res-f1"}'})
    sub_new = pool_doc("sub-new", pool_type="Logical", billing_mode=None, workspace_id="ws-b", requested={"f1": 2})
    sub_new["status"] = {}
    sub_early = pool_doc("sub-early", pool_type="Logical", billing_mode=None, requested={"f1": 3},
                         available={"f1": 3})
    assert "parent" not in sub_early["status"]
    publish_snapshot(tmp_path, utc(2026, 11, 1, 10), {("r1", "p1"): [phys, sub_new, sub_early]},
                     flavors={("r1", "p1"): [flavor_doc("f1", gpu=("nvidia-t4", 8))]})
    return duckdb.connect(str(tmp_path / "inventory.duckdb"), read_only=True)


def test_sub_pools_without_parent_stay_out_of_physical_sums(tmp_path):
    con = _lake(tmp_path)
    try:
        physical = con.execute("SELECT pool_id, is_physical FROM pools ORDER BY 1").fetchall()
        capacity = con.execute("SELECT state, sum(count) FROM physical_capacity GROUP BY ALL").fetchall()
        day = date(2026, 11, 1)
        cap = [r for r in report_arrow(con, "capacity_utilization", day, day).to_pylist() if r["level"] == "all"]
        billing = {(r["billing_mode"], r["pools"], r["logical_pools"])
                   for r in report_arrow(con, "billing_modes", day, day).to_pylist()
                   if r["pools"] + r["logical_pools"] > 0}
    finally:
        con.close()
    assert physical == [("phys", True), ("sub-early", False), ("sub-new", False)]
    assert capacity == [("available", 4)]
    (everything,) = cap
    assert everything["pools"] == 1 and everything["requested_nodes"] == 4.0
    hours = everything["observed_hours"] + everything["carried_hours"]
    assert hours > 0 and everything["available_node_hours"] == 4 * hours
    assert billing == {("pay_per_use", 1, 0), ("unknown", 0, 2)}


def test_default_workspace_and_flavor_resources_in_the_catalog(tmp_path):
    con = _lake(tmp_path)
    try:
        default = con.execute("SELECT pool_id, workspace_id_assumed FROM current_pools "
                              "WHERE workspace_id = '0' ORDER BY 1").fetchall()
        billed = con.execute(
            "SELECT r.pool_id, r.flavor, r.count, f.resource_id FROM pool_resources AS r "
            "JOIN current_pool_flavor_resources AS f USING (snapshot_id, region, project_id, pool_id, flavor)"
        ).fetchall()
        comment = con.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'pool_flavor_resources'"
                              ).fetchone()[0]
    finally:
        con.close()
    assert default == [("phys", True), ("sub-early", False)]
    assert billed == [("phys", "f1", 4, "res-f1")]
    assert "CBC" in comment
