"""`poolscope demo` end to end (fewer snapshots than the default 48, same code path)."""

import re
import subprocess
import sys

import duckdb

from clikit import cli_env
from ptykit import Terminal
from pipeline.simulator import DEMO_AK, DEMO_SK



def test_demo_takes_hourly_snapshots_and_prints_what_it_made(tmp_path):
    env = cli_env()
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "demo", "--out", "demo", "--snapshots", "4",
                           "--start", "2026-11-01T00:00:00Z"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    db = tmp_path / "demo" / "data" / "inventory.duckdb"
    assert f"DuckDB catalog: {db}" in out
    assert "took 4 hourly snapshots" in out and "make dev" in out
    assert out.count("\n-- ") == 4  # four example queries, with their results
    con = duckdb.connect(str(db), read_only=True)
    ids = [r[0] for r in con.execute("SELECT snapshot_id FROM snapshots ORDER BY 1").fetchall()]
    assert ids == ["20261101T000000Z", "20261101T010000Z", "20261101T020000Z", "20261101T030000Z"]
    assert con.execute("SELECT count(*) FROM pools").fetchone()[0] > 0
    _printed_queries_agree_with_the_reports(con, out, tmp_path / "demo" / "exports")
    _printed_commands_work(con, out, tmp_path, env)
    assert (tmp_path / "demo" / "poolscope.yaml").is_file()
    config_text = (tmp_path / "demo" / "poolscope.yaml").read_text()
    assert DEMO_SK not in config_text and DEMO_AK not in config_text  # credentials stay out of files

    # What `make dev` then shows: the demo's runs on the instance it serves, every snapshot asset materialized
    # once per snapshot with its metadata, each check's history, the demo day's report partitions filled.
    import json

    import dagster as dg

    from pipeline.check.checks import CHECKS, WARN_CHECKS

    meta = json.loads((tmp_path / "demo" / "demo.json").read_text())
    with dg.DagsterInstance.from_config(meta["dagster_home"]) as instance:
        runs = instance.get_runs()
        assert [r.job_name for r in runs] == ["snapshot_job"] * 4 and all(r.is_success for r in runs)
        for asset in ("raw_snapshot", "pools", "pool_capacity", "pool_changes", "inventory_catalog"):
            records = instance.fetch_materializations(dg.AssetKey(asset), limit=10).records
            assert len(records) == 4, asset
        pools = instance.fetch_materializations(dg.AssetKey("pools"), limit=10).records
        assert {r.asset_materialization.metadata["snapshot_id"].value for r in pools} == set(ids)
        assert all(r.asset_materialization.metadata["dagster/row_count"].value > 0 for r in pools)
        for name, table in {**CHECKS, **WARN_CHECKS}.items():
            key = dg.AssetCheckKey(dg.AssetKey(table), name)
            executions = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
            assert len(executions) == 4, name
        for report in ("capacity_utilization", "billing_modes", "subscriptions"):
            filled = instance.get_materialized_partitions(dg.AssetKey(report))
            assert filled == {"2026-11-01"}, report
    # The partitions start on the demo's first day (not at the default 2026-01-01).
    from pipeline.definitions import build_definitions

    graph = build_definitions(str(tmp_path / "demo" / "poolscope.yaml")).resolve_asset_graph()
    first = graph.get(dg.AssetKey("capacity_utilization")).partitions_def.get_first_partition_key()
    assert first == "2026-11-01"


def _printed_queries_agree_with_the_reports(con, out: str, exports) -> None:
    """The demo's example queries, taken from its output as printed, give the totals the reports give."""
    import csv

    printed = {}
    for block in out.split("\n-- ")[1:]:
        title, sql = block.split("\n", 2)[:2]
        printed[title] = con.execute(sql.rstrip(";")).fetchall()
    by = {t.split(" (")[0]: rows for t, rows in printed.items()}
    latest = con.execute("SELECT max(snapshot_id) FROM snapshots").fetchone()[0]
    day = con.execute("SELECT max(day) FROM billing_modes").fetchone()[0]
    # nodes in the latest snapshot (physical pools) = the nodes of the billing_modes rows of its day
    nodes = sum(n for sid, _state, n in by["Nodes per state over the last 6 snapshots"] if sid == latest)
    assert nodes == con.execute("SELECT sum(nodes) FROM billing_modes WHERE day = ?", [day]).fetchone()[0] > 0
    # node-hours per day = capacity_total in the export and the catalog's level 'all' rows
    per_day = dict(by["Provisioned node-hours per UTC day"])
    with open(exports / "capacity_total.csv", newline="", encoding="utf-8") as fh:
        exported = {r["day"]: float(r["provisioned_node_hours"]) for r in csv.DictReader(fh)}
    assert {d.isoformat(): float(v) for d, v in per_day.items()} == exported
    # physical pools per billing mode in the latest snapshot; sub-pools apart, as billing_modes keeps them
    billing = {mode: n for mode, n, _auto in by["Pools by billing mode in the latest snapshot"]}
    assert sum(n for mode, n in billing.items() if not mode.startswith("via parent")) == con.execute(
        f"SELECT count(*) FROM pools WHERE snapshot_id = '{latest}' AND is_physical").fetchone()[0]
    # failed reads: the forbidden project's 403s are what the coverage lists, and no 404 confirmation is among them
    failed = by["Failed reads by error code, all snapshots"]
    assert all(code != "ModelArts.50015001" for _call, code, *_ in failed)
    with open(exports / "coverage.csv", newline="", encoding="utf-8") as fh:
        unread = sum(int(r["snapshots"]) for r in csv.DictReader(fh) if r["kind"] == "unreadable_project")
    assert sum(n for call, _code, _status, n, _max in failed if call == "list_pools") == unread > 0


def _printed_commands_work(con, out: str, cwd, env) -> None:
    """The demo's command lines ("  $ ..."), run as printed from the folder the demo ran in: the interactive
    shell lists the tables and answers what is typed; the -c one prints the pools per region."""
    commands = [line[4:] for line in out.splitlines() if line.startswith("  $ ")]
    assert len(commands) == 2 and "duckdb -readonly" not in out, out
    interactive, scripted = commands
    assert " sql --config " in interactive and scripted.startswith(interactive + " -c ")
    regions = con.execute("SELECT region, count(*) FROM current_pools GROUP BY ALL ORDER BY region").fetchall()
    proc = subprocess.run(scripted, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    boxed = [line for line in proc.stdout.splitlines() if line.startswith("│")]
    assert len(boxed) == 2 + len(regions) > 3, proc.stdout  # names, types, then one line per region
    for region, pools in regions:
        assert any(re.fullmatch(rf"│ {region} +│ +{pools} │", line) for line in boxed), (region, proc.stdout)

    views = [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()]
    term = Terminal(interactive, shell=True, cwd=cwd, env=env)
    try:
        term.expect(rf"{len(views)} tables:")
        term.expect(r"D\s*$")  # the shell's prompt, after the listing
        assert all(v in term.text.split() for v in views), term.text
        term.type("SELECT 'current pools: ' || count(*) AS answer FROM current_pools;")
        term.expect(rf"current pools: {sum(n for _r, n in regions)}")
        term.type(".quit")
    finally:
        code = term.close()
    assert code == 0, term.text
