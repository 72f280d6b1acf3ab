"""Project names (table projects): one IAM project list per region of the targets, through the simulator.

Hand-checked against the simulator's own account: 6 projects round-robin over its 4 regions, each region's first project named
after the region, the others `<region>_teamNN`. A name lookup that IAM refuses costs the names only.
"""

import yaml

from lakekit import query_catalog
from pipeline.config import load_config
from pipeline.flow import run_snapshot
from pipeline.lake.layout import Layout
from pipeline.modelarts import AkSkCredentials
from pipeline.simulator import SimulatorConfig, run_simulator

AK, SK = "AKNAMESTEST000000001", "names-test-sk-0123456789abcdefghijklmnop"


def _snapshot(tmp_path, *, project_names=True, refuse_iam=False):
    with run_simulator(SimulatorConfig(projects=6, pools_per_project=1, seed=3, ak=AK, sk=SK)) as sim:
        path = sim.write_config(tmp_path / "poolscope.yaml", storage_root="./data")
        data = yaml.safe_load(path.read_text())
        data["fetch"] = {"project_names": project_names}
        path.write_text(yaml.safe_dump(data))
        if refuse_iam:
            sim.inject("forbidden", count=100, path_contains="/v3/projects")
        result = run_snapshot(load_config(path), credentials=AkSkCredentials(AK, SK), snapshot_at=sim.fleet.now)
        projects = list(sim.projects)
    return result, projects, Layout(tmp_path / "data").catalog


def test_every_target_project_gets_its_iam_name_with_one_call_per_region(tmp_path):
    result, projects, db = _snapshot(tmp_path)
    assert result.status == "complete"
    regions = sorted({p.region for p in projects})
    assert len(regions) == 4 and len(projects) == 6
    calls = query_catalog(db, "SELECT region, outcome FROM fetches WHERE call = 'project_names' ORDER BY 1")
    assert calls == [[r, "ok"] for r in regions]
    got = query_catalog(db, "SELECT project_id, region, name, is_default, enabled FROM projects ORDER BY 1")
    want = sorted([p.id, p.region, p.name, p.name == p.region, True] for p in projects)
    assert got == want
    assert {name for _, _, name, default, _ in got if default} == set(regions)  # cn-north-4, not cn-north-4_team02
    # and beside the ids in the reports the snapshot refreshed
    named = {p.id: p.name for p in projects}
    for report in ("capacity_utilization", "billing_modes", "subscriptions"):
        rows = query_catalog(db, f"SELECT DISTINCT project_id, project_name FROM {report} WHERE project_id IS NOT NULL")
        assert rows and all(name == named[pid] for pid, name in rows), report


def test_names_off_makes_no_iam_call(tmp_path):
    result, _, db = _snapshot(tmp_path, project_names=False)
    assert result.status == "complete"
    assert query_catalog(db, "SELECT count(*) FROM fetches WHERE call IN ('project_names', 'list_projects')") == [[0]]
    assert query_catalog(db, "SELECT count(*) FROM projects") == [[0]]


def test_a_refused_name_lookup_costs_the_names_only(tmp_path):
    result, projects, db = _snapshot(tmp_path, refuse_iam=True)
    # every pool was read: the snapshot is complete, no target failed, no check failed
    assert result.status == "complete" and result.targets_ok == len(projects) and result.targets_failed == 0
    assert result.checks and all(c.passed for c in result.checks) and not result.blocked_by
    assert result.exit_code == 0
    rows = query_catalog(db, "SELECT outcome, http_status, error_code FROM fetches WHERE call = 'project_names'")
    assert len(rows) == 4 and all(r == ["error", 403, "APIGW.0302"] for r in rows)
    assert query_catalog(db, "SELECT count(*) FROM projects") == [[0]]
    assert query_catalog(db, "SELECT count(*) FROM pools") == [[len(projects)]]
