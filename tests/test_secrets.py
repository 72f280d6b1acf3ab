"""Canary credentials through whole runs, failing ones included: they appear in no output, log line, Dagster
event, landed file, table value or export."""

import logging
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import dagster as dg
import duckdb

from pipeline.assets.resources import resources_for
from pipeline.assets.snapshot import inventory_catalog, pool_tables, raw_snapshot
from pipeline.simulator import Faults, SimulatorConfig, run_simulator

REPO = Path(__file__).resolve().parents[1]
AK = "AKCANARY7Q2W9E4R6T8Y"
SK = "SKcanary-0a9b8c7d6e5f4g3h2i1j0k-zz"
WRONG_SK = "SKcanary-wrong-ffffeeeeddddccccbbbb"
UNKNOWN_AK = "AKCANARYUNKNOWN00042"
CANARIES = (AK, SK, WRONG_SK, UNKNOWN_AK)


def _run_cli(args, cwd, ak, sk):
    time.sleep(1.1)  # one snapshot per second: the same id would replace the previous run's snapshot
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUAWEICLOUD_")}
    env.update({"HUAWEICLOUD_SDK_AK": ak, "HUAWEICLOUD_SDK_SK": sk, "PYTHONPATH": str(REPO)})
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def _file_texts(root: Path):
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    yield f"{path}!{name}", z.read(name).decode("utf-8", "replace")
        else:
            yield str(path), path.read_bytes().decode("utf-8", "replace")


def _catalog_text(db: Path) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        views = [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()]
        return "\n".join(str(con.execute(f'SELECT * FROM "{v}"').fetchall()) for v in views)
    finally:
        con.close()


def test_canary_credentials_leak_nowhere(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    faults = Faults(error_rate=0.2, forbidden_projects=1, seed=9)
    with run_simulator(SimulatorConfig(projects=3, pools_per_project=3, seed=40, ak=AK, sk=SK, faults=faults)) as sim:
        sim.write_config(tmp_path / "poolscope.yaml", storage_root="./data")
        outputs = [
            _run_cli(["snapshot", "--config", "poolscope.yaml"], tmp_path, AK, SK),         # ok + 403 + 5xx
            _run_cli(["snapshot", "--config", "poolscope.yaml"], tmp_path, AK, WRONG_SK),   # 401 signature
            _run_cli(["snapshot", "--config", "poolscope.yaml"], tmp_path, UNKNOWN_AK, SK),  # 401 echoing the AK
        ]
        monkeypatch.setenv("HUAWEICLOUD_SDK_AK", UNKNOWN_AK)
        monkeypatch.setenv("HUAWEICLOUD_SDK_SK", WRONG_SK)
        time.sleep(1.1)
        result = dg.materialize([raw_snapshot, pool_tables, inventory_catalog],
                                resources=resources_for(str(tmp_path / "poolscope.yaml")), raise_on_error=False)
        outputs.append(_run_cli(["report", "--config", "poolscope.yaml", "--out", "exports"], tmp_path, AK, SK))
    assert [p.returncode for p in outputs] == [3, 1, 1, 0], [p.stderr for p in outputs]
    db = tmp_path / "data" / "inventory.duckdb"
    codes = duckdb.connect(str(db), read_only=True).execute(
        "SELECT DISTINCT error_code FROM fetches WHERE outcome = 'error' ORDER BY 1").fetchall()
    assert ("APIGW.0301",) in codes and ("APIGW.0302",) in codes  # the failing runs really happened
    # The gateway's "ak not exist" message was landed, with the AK masked.
    landed = [text for name, text in _file_texts(tmp_path / "data" / "lake" / "raw") if "ak not exist" in text]
    assert landed and all("ak:***" in t for t in landed)

    texts = [(f"cli {i} stdout", p.stdout) for i, p in enumerate(outputs)]
    texts += [(f"cli {i} stderr", p.stderr) for i, p in enumerate(outputs)]
    texts += [("log", caplog.text)]
    texts += [("dagster event", str(e)) for e in result.all_events]
    texts += list(_file_texts(tmp_path))  # lake (raw and Parquet), catalog, config, exports
    texts += [("catalog values", _catalog_text(db))]
    leaks = [(where, canary) for where, text in texts for canary in CANARIES if canary in text]
    assert leaks == []
