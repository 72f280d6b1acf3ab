"""IAM token mode end to end: password login, project discovery via /v3/projects, a snapshot of them all."""

from pathlib import Path

import duckdb

from pipeline.config import load_config
from pipeline.simulator import SimulatorConfig, run_simulator
from pipeline.flow import run_snapshot
from pipeline.land.step import load_credentials


def test_discover_projects_and_snapshot_with_iam_tokens(tmp_path: Path):
    users = {("ops", "pw-0123456789", "acme")}
    config = SimulatorConfig(projects=6, pools_per_project=3, seed=12, users=users, domain_name="acme",
                             regions=("cn-north-4", "cn-east-3"))
    with run_simulator(config) as sim:
        (tmp_path / "poolscope.yaml").write_text(
            "storage: {root: data}\ncredentials: {method: token}\n"
            # every per-pool family too (off by default): each call uses the project's token
            "collect: {pool_nodes: true, workload_statistics: true, pool_events: true, pool_monitor: true}\n"
            f"discover: {{regions: [cn-north-4], iam_endpoint: '{sim.url}', endpoint: '{sim.url}'}}\n"
        )
        cfg = load_config(tmp_path / "poolscope.yaml")
        creds = load_credentials(cfg, {"HUAWEICLOUD_SDK_USERNAME": "ops", "HUAWEICLOUD_SDK_PASSWORD": "pw-0123456789",
                                       "HUAWEICLOUD_SDK_DOMAIN": "acme"})
        result = run_snapshot(cfg, credentials=creds)
        north = [p for p in sim.projects if p.region == "cn-north-4"]
        expected = sum(len(sim.fleet.pools(p.id)) for p in north)
        # The virtual flavors are asked once per region whose pools include a Logical one
        logical = any((doc.get("spec") or {}).get("type") == "Logical" for p in north for doc in sim.fleet.pools(p.id))
        paths = [r.path for r in sim.requests]
    assert len(north) == 3
    assert result.status == "complete" and result.targets == 3 and result.pools == expected
    assert paths.count("/v3/auth/tokens") == 4  # one domain-scoped token, one per discovered project
    con = duckdb.connect(str(tmp_path / "data" / "inventory.duckdb"), read_only=True)
    calls = con.execute("SELECT call, outcome, count(*) FROM fetches GROUP BY ALL ORDER BY 1").fetchall()
    assert calls == [("list_pools", "ok", 3), ("list_projects", "ok", 1), ("list_resource_flavors", "ok", 1),
                     *([("list_virtual_resource_flavors", "ok", 1)] if logical else []),
                     ("pool_events", "ok", expected),  # one per pool read (a fresh fleet: one page each)
                     ("pool_monitor", "ok", 2 * expected),  # hourly average and maximum, per pool read
                     ("pool_nodes", "ok", expected),  # one per pool read
                     ("runtime_metrics", "ok", 3),  # with each project's token: no token more
                     ("workload_statistics", "ok", expected)]  # one per pool read
    assert sorted(r[0] for r in con.execute("SELECT DISTINCT project_id FROM pools").fetchall()) == sorted(
        p.id for p in north)
