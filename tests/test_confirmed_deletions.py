"""Deletions are confirmed, not inferred: the CLI as a user runs it, against the simulator, over three snapshots.

Snapshot 2 meets three things at once: project A's listing glitches empty although its pools exist (the
simulator's empty_listing fault), a pool of project B is really deleted, and project C's listing leaves out
every other pool (partial_listing) while the ShowPool of one of those keeps failing. Before, the glitch counted
every pool of A (and half of C) as deleted, and as created again an hour later.
"""

import subprocess
import time

from clikit import POOLSCOPE, cli_env
from lakekit import query_catalog
from pipeline.simulator import SimulatorConfig, run_simulator

AK, SK = "AKCONFIRM00000000001", "confirm-sk-0123456789abcdefghijklmnopq"


def snapshot(cwd, code: int) -> str:
    proc = subprocess.run([*POOLSCOPE, "snapshot", "--config", "poolscope.yaml", "--no-progress"], cwd=cwd,
                          env=cli_env(AK, SK), capture_output=True, text=True, timeout=300)
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    time.sleep(1.1)  # snapshot ids have one-second resolution
    return proc.stdout


def test_a_vanished_pool_is_confirmed_before_it_counts_as_deleted(tmp_path):
    with run_simulator(SimulatorConfig(projects=3, pools_per_project=4, seed=11, ak=AK, sk=SK)) as sim:
        sim.write_config(tmp_path / "poolscope.yaml", storage_root="data")
        a, b, c = (p.id for p in sim.projects)
        pools = {p: sorted(d["metadata"]["name"] for d in sim.fleet.pools(p)) for p in (a, b, c)}
        snapshot(tmp_path, 0)
        deleted = pools[b][0]
        sim.fleet.delete_pool(b, deleted)
        sim.inject("empty_listing", project_id=a, path_contains=f"/v2/{a}/pools")
        sim.inject("partial_listing", project_id=c, path_contains=f"/v2/{c}/pools")
        # partial_listing keeps pools 0, 2 of C's listing order (creation order): ask for the sorted names
        listed_c = [d["metadata"]["name"] for d in sim.fleet.pools(c)]
        unconfirmed = listed_c[1]
        sim.inject("error", count=50, project_id=c, path_contains=f"/pools/{unconfirmed}", status=503)
        out = snapshot(tmp_path, 3)  # partial: one confirmation failed
        assert "targets: 2 ok, 1 failed (of 3)" in out and "ModelArts.50015001" not in out, out
        snapshot(tmp_path, 0)  # the next hour, no faults
    db = tmp_path / "data" / "inventory.duckdb"
    s1, s2, s3 = (r[0] for r in query_catalog(db, "SELECT snapshot_id FROM snapshots ORDER BY 1"))

    # The listings of snapshot 2: A's and C's were incomplete (a ShowPool found pools they left out).
    reasons = dict(query_catalog(db, f"SELECT project_id, reason FROM fetches WHERE snapshot_id = '{s2}' "
                                     "AND call = 'list_pools'"))
    assert reasons == {a: "incomplete_listing", b: "ok", c: "incomplete_listing"}
    # Every pool of A was asked for and found; B's deleted pool was confirmed gone; C's unconfirmed one failed.
    confirms = query_catalog(db, f"SELECT project_id, pool_id, outcome, http_status, error_code FROM fetches "
                                 f"WHERE snapshot_id = '{s2}' AND call = 'show_pool' ORDER BY 1, 2")
    assert [r[:3] for r in confirms if r[0] == a] == [[a, p, "ok"] for p in pools[a]]
    assert [r for r in confirms if r[0] == b] == [[b, deleted, "error", 404, "ModelArts.50015001"]]
    c_rows = {r[1]: r[2:] for r in confirms if r[0] == c}
    assert c_rows[unconfirmed][:2] == ["error", 503] and len(c_rows) == 2
    # A's pools are observed in snapshot 2 (from the ShowPool answers), with the same capacity as before.
    assert query_catalog(db, f"SELECT count(*) FROM pools WHERE snapshot_id = '{s2}' AND project_id = '{a}'") == [[4]]
    cap = ("SELECT snapshot_id, sum(count) FROM pool_capacity WHERE project_id = '{p}' AND state = 'available' "
           "GROUP BY ALL ORDER BY 1")
    a_cap = query_catalog(db, cap.format(p=a))
    assert a_cap[0][1] == a_cap[1][1]
    # Snapshot 3 does not ask for the confirmed-deleted pool again (the lake no longer knows it).
    assert query_catalog(db, f"SELECT count(*) FROM fetches WHERE snapshot_id = '{s3}' AND call = 'show_pool'") == [[0]]

    # The history: only the confirmed deletion; the glitch and the unconfirmed pool change nothing.
    proc = subprocess.run([*POOLSCOPE, "report", "--config", "poolscope.yaml", "--format", "csv"], cwd=tmp_path,
                          env=cli_env(AK, SK), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    changes = query_catalog(db, "SELECT snapshot_id, project_id, pool_id, change_type FROM pool_changes "
                                "WHERE change_type <> 'created' OR snapshot_id <> (SELECT min(snapshot_id) FROM snapshots) "
                                "ORDER BY ALL")
    assert [r for r in changes if r[3] in ("deleted", "created")] == [[s2, b, deleted, "deleted"]]
    assert not [r for r in changes if r[1] == a]
