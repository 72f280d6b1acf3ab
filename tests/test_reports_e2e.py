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
import pytest

from lakekit import pool_doc, publish_snapshot, utc
from pipeline.assets.reports import pool_history, report_definitions
from pipeline.assets.resources import resources_for
from pipeline.config import load_config
from pipeline.lake.layout import Layout
from pipeline.modelarts import AkSkCredentials
from pipeline.reporting import ReportGateError, build_day
from pipeline.simulator import SimulatorConfig, run_simulator
from pipeline.snapshot import run_snapshot

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
    assert names[0] == "README" and len(names) == 5  # README + one sheet per report
    for name in ("capacity_utilization", "billing_modes", "subscriptions", "pool_changes"):
        with open(out / f"{name}.csv", newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh))
        assert header, name
    html = (out / "poolscope-reports.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 2 and "http://" not in html.split("<body", 1)[1].split("</body>")[0].replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    with open(out / "capacity_utilization.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["day"] for r in rows} == {"2026-11-01", "2026-11-02"}
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
    days = con.execute("SELECT DISTINCT day FROM capacity_utilization ORDER BY 1").fetchall()
    con.close()
    assert [d[0] for d in days] == [date(2026, 11, 2)]


def test_a_day_with_a_failed_integrity_check_is_held_back(tmp_path):
    # 3 nodes requested, 1 of them placed in an AZ. (A negative count no longer reaches the tables: normalize
    # rejects that document, see tests/lake/test_normalize_counts.py.)
    bad = pool_doc("pool-az", requested={"f1": 3}, azs={"f1": {"az1": 1}}, available={"f1": 3})
    publish_snapshot(tmp_path, utc(2026, 11, 5, 1), {("cn-north-4", "p1"): [bad]})
    publish_snapshot(tmp_path, utc(2026, 11, 6, 1), {("cn-north-4", "p1"): [pool_doc("pool-ok", available={"f1": 1})]})
    layout = Layout(tmp_path)
    with pytest.raises(ReportGateError, match="20261105T010000Z failed az_counts_add_up"):
        build_day(layout, date(2026, 11, 5))
    assert build_day(layout, date(2026, 11, 6))["capacity_utilization"] > 0
