"""Reports end to end: snapshots from the simulator, then `poolscope report` (a subprocess) and the daily
Dagster report assets (dagster.materialize), then the files and the catalog."""

import csv
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import openpyxl
import pyarrow.parquet as pq
import pytest

from clikit import POOLSCOPE, cli_env
from lakekit import pool_doc, publish_snapshot, query_catalog, utc
from pipeline.assets.reports import pool_history, report_definitions
from pipeline.assets.resources import resources_for
from pipeline.config import load_config
from pipeline.lake.layout import Layout
from pipeline.modelarts import AkSkCredentials
from pipeline.reports.days import build_day, gate
from pipeline.reports.levels import NAMES as LEVEL_NAMES, split_levels
from pipeline.simulator import SimulatorConfig, run_simulator
from pipeline.flow import run_snapshot

REPO = Path(__file__).resolve().parents[1]
AK, SK = "AKREPORTSE2E0000001X", "reports-e2e-sk-0123456789abcdefghijklm"


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """Eight hourly snapshots of a small simulated fleet, across midnight."""
    root = tmp_path_factory.mktemp("reports")
    from datetime import datetime, timezone
    start = datetime(2026, 11, 1, 20, tzinfo=timezone.utc)
    with run_simulator(SimulatorConfig(projects=3, pools_per_project=4, seed=31, ak=AK, sk=SK, start=start)) as sim:
        sim.write_config(root / "poolscope.yaml", storage_root="./data")
        config = load_config(root / "poolscope.yaml")
        for _ in range(8):
            run_snapshot(config, credentials=AkSkCredentials(AK, SK), snapshot_at=sim.fleet.now)
            sim.advance(hours=1)
    return root


def test_cli_report_writes_every_format(lake):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = lake / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "report", "--config", "poolscope.yaml", "--from", "2026-11-01",
         "--to", "2026-11-02", "--out", str(out)], cwd=lake, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "reports for 2026-11-01 .. 2026-11-02" in proc.stdout
    wb = openpyxl.load_workbook(out / "poolscope-reports.xlsx", read_only=True)
    names = wb.sheetnames
    # README, then one sheet per report; capacity_utilization is one sheet per level, each summable on its own
    assert names == ["README", *LEVEL_NAMES, "billing_modes", "subscriptions", "idle_capacity", "pressure",
                     "pool_changes"]
    assert not (out / "capacity_utilization.csv").exists()  # no file mixes the levels
    for name in (*LEVEL_NAMES, "billing_modes", "subscriptions", "idle_capacity", "pressure", "pool_changes"):
        with open(out / f"{name}.csv", newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh))
        assert header, name
    html = (out / "poolscope-reports.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 2 and "http://" not in html.split("<body", 1)[1].split("</body>")[0].replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    with open(out / "capacity_total.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["day"] for r in rows) == ["2026-11-01", "2026-11-02"]  # one row per day
    # History was refreshed on the way: the catalog has it.
    con = duckdb.connect(str(lake / "data" / "inventory.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM pool_versions").fetchone()[0] >= 12
    con.close()


def test_cli_report_rejects_bad_arguments(lake):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    bad = subprocess.run([sys.executable, "-m", "pipeline.cli", "report", "--config", "poolscope.yaml",
                          "--format", "pdf"], cwd=lake, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown format pdf" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "pipeline.cli", "report", "--config", "poolscope.yaml",
                          "--from", "2026-11-03", "--to", "2026-11-01"], cwd=lake, env=env, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "after" in bad.stderr and "Traceback" not in bad.stderr


def test_dagster_daily_partition_and_exports(lake):
    assets, job, schedule = report_definitions(date(2026, 11, 1))
    resources = resources_for(str(lake / "poolscope.yaml"))
    assert dg.materialize([pool_history], resources=resources).success
    result = dg.materialize(assets, resources=resources, partition_key="2026-11-02")
    assert result.success
    mats = {m.asset_key.to_user_string(): m.materialization.metadata for m in
            result.get_asset_materialization_events()}
    assert {"capacity_utilization", "billing_modes", "subscriptions", "report_exports"} <= set(mats)
    assert mats["capacity_utilization"]["day"].value == "2026-11-02"
    files = mats["report_exports"]["xlsx_files"].value
    assert files and Path(files[0]).is_file()
    con = duckdb.connect(str(lake / "data" / "inventory.duckdb"), read_only=True)
    days = con.execute("SELECT day, count(*) FROM capacity_utilization GROUP BY 1 ORDER BY 1").fetchall()
    con.close()
    # Each snapshot stored its own day's and the day before's reports; the partition replaced 2026-11-02's.
    assert [d[0] for d in days] == [date(2026, 11, 1), date(2026, 11, 2)]
    assert dict(days)[date(2026, 11, 2)] == mats["capacity_utilization"]["dagster/row_count"].value


GATED_DAY = date(2026, 11, 5)


@pytest.fixture
def gated_lake(tmp_path):
    """One day, four hourly snapshots: 01:00 failed an integrity check (3 nodes requested, 1 of them placed in an AZ;
    a negative count no longer reaches the tables, see tests/normalize/test_normalize_counts.py), 02:00 is partial
    (project p2 answered 403), 03:00 holds a rejected document next to p1's pool."""
    root = tmp_path / "data"
    p1, p2 = ("cn-north-4", "p1"), ("cn-north-4", "p2")
    a, b = pool_doc("pool-a", available={"f1": 2}), pool_doc("pool-b", available={"f1": 3})
    publish_snapshot(root, utc(2026, 11, 5, 0), {p1: [a], p2: [b]})
    publish_snapshot(root, utc(2026, 11, 5, 1), {p1: [pool_doc("pool-a", requested={"f1": 3}, azs={"f1": {"az1": 1}},
                                                                  available={"f1": 2})], p2: [b]})
    publish_snapshot(root, utc(2026, 11, 5, 2), {p1: [a], p2: 403})
    publish_snapshot(root, utc(2026, 11, 5, 3), {p1: [a, "not a pool document"], p2: [b]})
    (tmp_path / "poolscope.yaml").write_text(
        "storage: {root: ./data}\nreports: {window_days: 1}\n"
        "targets: [{region: cn-north-4, project_id: p1}, {region: cn-north-4, project_id: p2}]\n")
    return tmp_path


def _csv_text(table) -> str:
    """A report table as `poolscope report` writes its CSV, for comparing rows exactly."""
    import tempfile

    from pipeline.reports.csvfile import write_csv
    from pipeline.reports.model import ReportTable

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.csv"
        write_csv(path, ReportTable("t", "t", "", table, {}))
        return path.read_text(encoding="utf-8")


def _states_the_coverage(folder: Path) -> None:
    """Every export format in `folder` names the excluded snapshot with its check, and p2's 403 with its hours."""
    excluded, unread = "20261105T010000Z", "project p2 (cn-north-4) could not be read in 1 snapshot(s)"
    with open(folder / "coverage.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["kind"] == "summary" and rows[0]["snapshots"] == "4"
    assert "use 3 of the 4 snapshot(s)" in rows[0]["statement"]
    assert [(r["kind"], r["snapshot_id"], r["reason"]) for r in rows if r["kind"] == "excluded_snapshot"] == [
        ("excluded_snapshot", excluded, "az_counts_add_up")]
    assert [(r["kind"], r["project_id"], r["reason"], r["snapshots"], r["hours"]) for r in rows[1:]
            if r["kind"] not in ("excluded_snapshot", "region")] == [("unreadable_project", "p2", "APIGW.0302", "1", "1")]
    # Scope: the used snapshots 00:00, 02:00, 03:00 read p1 each time, p2 twice (403 at 02:00); 00:00-04:00
    # expected (the last snapshot + 1 h), 3 h observed (01:00 is excluded)
    assert [(r["region"], r["snapshots"], r["projects_expected"], r["projects_read"], r["projects_partly"],
             r["projects_unread"]) for r in rows if r["kind"] == "region"] == [("cn-north-4", "3", "2", "1", "1", "0")]
    assert (rows[0]["hours"], rows[0]["hours_expected"], rows[0]["projects_expected"]) == ("3", "4", "2")
    assert "2 project(s) in 1 region(s) expected; 1 read in every snapshot, 1 in some" in rows[0]["statement"]
    assert "Hours observed: 3 of 4 expected" in rows[0]["statement"]
    html = (folder / "poolscope-reports.html").read_text(encoding="utf-8")
    section = html.split('<section id="coverage"', 1)[1].split("</section>", 1)[0]
    assert excluded in section and "az_counts_add_up" in section
    assert unread in section and "about 1 h: APIGW.0302" in section
    wb = openpyxl.load_workbook(folder / "poolscope-reports.xlsx", read_only=True)
    readme = [" ".join(str(c) for c in row if c is not None) for row in wb["README"].iter_rows(values_only=True)]
    wb.close()
    at = next(i for i, line in enumerate(readme) if line.startswith("Coverage "))
    assert "use 3 of the 4 snapshot(s)" in readme[at]
    assert any(excluded in line and "az_counts_add_up" in line for line in readme[at + 1:at + 3])
    assert any(unread in line and "APIGW.0302" in line for line in readme[at + 1:at + 3])


def test_dagster_and_the_cli_apply_one_gate_and_state_the_coverage(gated_lake):
    from pipeline.reports.tables import REPORTS

    layout = Layout(gated_lake / "data")
    assert query_catalog(layout.catalog, "SELECT snapshot_id, count(*) FROM rejected_documents GROUP BY ALL") == [
        ["20261105T030000Z", 1]]
    assert gate(layout) == {"20261105T010000Z": ("az_counts_add_up",)}  # the rejected document is no failure
    # Dagster: the day's partition is built (not held back), and the exports of the window ending that day.
    assets, _, _ = report_definitions(date(2026, 11, 1))
    resources = resources_for(str(gated_lake / "poolscope.yaml"))
    result = dg.materialize(assets, resources=resources, partition_key=GATED_DAY.isoformat())
    assert result.success
    mats = {m.asset_key.to_user_string(): m.materialization.metadata for m in
            result.get_asset_materialization_events()}
    assert mats["capacity_utilization"]["excluded_snapshots"].value == ["20261105T010000Z"]
    assert "APIGW.0302" in mats["capacity_utilization"]["coverage"].value
    assert mats["report_exports"]["coverage_complete"].value is False
    # The CLI, as a subprocess, for the same day.
    out = gated_lake / "cli-out"
    proc = subprocess.run([*POOLSCOPE, "report", "--config", "poolscope.yaml", "--from", "2026-11-05", "--to",
                           "2026-11-05", "--out", str(out)], cwd=gated_lake, env=cli_env(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "use 3 of the 4 snapshot(s)" in proc.stdout and "APIGW.0302" in proc.stdout
    dagster_out = gated_lake / "data" / "exports" / GATED_DAY.isoformat()
    for name in REPORTS:
        partition = pq.read_table(layout.lake / "reports" / name / f"day={GATED_DAY.isoformat()}.parquet")
        # capacity_utilization's exports are its levels, one file each
        parts = ([(lv.name, t) for lv, t in split_levels(partition)] if name == "capacity_utilization"
                 else [(name, partition)])
        for file_name, table in parts:
            cli_csv = (out / f"{file_name}.csv").read_text(encoding="utf-8")
            assert _csv_text(table) == cli_csv, file_name  # the stored partition: the CLI's rows, value for value
            assert (dagster_out / f"{file_name}.csv").read_text(encoding="utf-8") == cli_csv, file_name
    for folder in (out, dagster_out):
        _states_the_coverage(folder)
    # What the gate means for the numbers: pool-a's failed snapshot is out (its 2 nodes hold from 00:00 to the
    # horizon 04:00); pool-b counts for what p2's snapshots read: 2 h held after 00:00 (the cap), a 1 h gap
    # where 01:00 was excluded and 02:00 could not read it, then 1 h from 03:00.
    with open(out / "capacity_by_pool.csv", newline="", encoding="utf-8") as fh:
        pools = {r["pool_id"]: r for r in csv.DictReader(fh)}
    assert float(pools["pool-a"]["available_node_hours"]) == 8.0 and float(pools["pool-a"]["gap_hours"]) == 0.0
    assert float(pools["pool-b"]["available_node_hours"]) == 9.0 and float(pools["pool-b"]["gap_hours"]) == 1.0


def test_a_day_without_failures_has_a_complete_coverage(gated_lake):
    layout = Layout(gated_lake / "data")
    result = build_day(layout, date(2026, 11, 6))
    assert result.coverage.snapshots == 0 and result.coverage.complete
    publish_snapshot(layout.root, utc(2026, 11, 6, 0), {("cn-north-4", "p1"): [pool_doc("pool-ok",
                                                                                       available={"f1": 1})]})
    result = build_day(layout, date(2026, 11, 6))
    assert result.rows["capacity_utilization"] > 0
    assert result.coverage.complete and result.coverage.snapshots == 1
    assert result.coverage.summary.startswith("Coverage: complete")
    assert (result.coverage.hours_observed, result.coverage.hours_expected) == (1, 1)
    # a missed hour (no 01:00 snapshot) is no longer complete, though every target of every snapshot was read
    publish_snapshot(layout.root, utc(2026, 11, 6, 2), {("cn-north-4", "p1"): [pool_doc("pool-ok",
                                                                                       available={"f1": 1})]})
    result = build_day(layout, date(2026, 11, 6))
    assert not result.coverage.complete and not result.coverage.items
    assert (result.coverage.hours_observed, result.coverage.hours_expected) == (2, 3)
    assert "1 h without a snapshot" in result.coverage.summary
