"""`poolscope demo` end to end (fewer snapshots than the default 48, same code path)."""

import subprocess
import sys

import duckdb

from clikit import cli_env
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
    assert out.count("\n-- ") == 3  # three example queries, with their results
    con = duckdb.connect(str(db), read_only=True)
    ids = [r[0] for r in con.execute("SELECT snapshot_id FROM snapshots ORDER BY 1").fetchall()]
    assert ids == ["20261101T000000Z", "20261101T010000Z", "20261101T020000Z", "20261101T030000Z"]
    assert con.execute("SELECT count(*) FROM pools").fetchone()[0] > 0
    assert (tmp_path / "demo" / "poolscope.yaml").is_file()
    config_text = (tmp_path / "demo" / "poolscope.yaml").read_text()
    assert DEMO_SK not in config_text and DEMO_AK not in config_text  # credentials stay out of files
