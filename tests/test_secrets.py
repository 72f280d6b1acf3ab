"""Canary credentials through whole runs, failing ones included: they appear in no output, log line, Dagster
event, landed file, table value or export."""

import asyncio
import logging
import subprocess
import sys
import time
import traceback
import zipfile
from pathlib import Path

import dagster as dg
import duckdb

from clikit import cli_env
from pipeline.assets.resources import resources_for
from pipeline.assets.snapshot import inventory_catalog, pool_tables, raw_snapshot
from pipeline.simulator import Faults, SimulatorConfig, run_simulator

AK = "AKCANARY7Q2W9E4R6T8Y"
SK = "SKcanary-0a9b8c7d6e5f4g3h2i1j0k-zz"
WRONG_SK = "SKcanary-wrong-ffffeeeeddddccccbbbb"
UNKNOWN_AK = "AKCANARYUNKNOWN00042"
CANARIES = (AK, SK, WRONG_SK, UNKNOWN_AK)


def _run_cli(args, cwd, ak, sk):
    time.sleep(1.1)  # one snapshot per second: the same id would replace the previous run's snapshot
    env = cli_env(ak, sk)
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


def test_canary_credentials_through_a_whole_demo(tmp_path):
    """`poolscope demo --env-credentials`: the simulator accepts, and the client signs with, the canary pair;
    snapshots (with the demo's 403 project and 5xx), compaction, catalog and exports leak it nowhere."""
    env = cli_env(AK, SK)
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "demo", "--out", "demo", "--snapshots", "3",
                           "--projects", "3", "--pools-per-project", "2", "--env-credentials"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    db = tmp_path / "demo" / "data" / "inventory.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    try:  # the canary really signed: listings succeeded, and the forbidden project answered 403, not 401
        codes = dict(con.execute("SELECT coalesce(error_code, 'ok'), count(*) FROM fetches GROUP BY 1").fetchall())
    finally:
        con.close()
    assert codes.get("ok", 0) > 0 and "APIGW.0302" in codes and "APIGW.0301" not in codes, codes
    texts = [("demo stdout", proc.stdout), ("demo stderr", proc.stderr)]
    texts += list(_file_texts(tmp_path / "demo"))  # config, demo.json, raw, parquet, catalog, exports
    texts += [("catalog values", _catalog_text(db))]
    assert len(texts) > 20
    leaks = [(where, canary) for where, text in texts for canary in (AK, SK) if canary in text]
    assert leaks == []


def test_demo_env_credentials_need_both_variables(tmp_path):
    env = cli_env(AK)
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "demo", "--out", "demo", "--env-credentials"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "HUAWEICLOUD_SDK_SK" in proc.stderr and AK not in proc.stderr + proc.stdout
    assert not (tmp_path / "demo").exists()


def _exception_texts(exc: BaseException) -> list[str]:
    out = [str(exc), repr(exc), *map(str, exc.args)]
    out += ["".join(traceback.format_exception(exc))]
    return out


def test_canary_is_in_no_exception_text(tmp_path, monkeypatch):
    from pipeline.config import ConfigError, load_config
    from pipeline.modelarts import AkSkCredentials, CredentialsError, ModelArtsClient, ModelArtsError
    from pipeline.modelarts.credentials import TokenCredentials
    from pipeline.land.step import load_credentials

    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", UNKNOWN_AK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", SK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SECURITY_TOKEN", WRONG_SK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_PASSWORD", WRONG_SK)
    caught: list[BaseException] = []

    # API errors: an unknown AK (the gateway echoes it in its message), a wrong SK, a forbidden project.
    async def calls(sim):
        for creds, project in [(AkSkCredentials(UNKNOWN_AK, SK), sim.projects[0].id),
                               (AkSkCredentials(AK, WRONG_SK), sim.projects[0].id),
                               (AkSkCredentials(AK, SK), sim.projects[-1].id)]:
            client = ModelArtsClient(sim.url, creds, max_attempts=1)
            try:
                await client.list_pools(project)
            except ModelArtsError as exc:
                caught.append(exc)
            finally:
                await client.aclose()

    faults = Faults(forbidden_projects=1)
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=1, seed=3, ak=AK, sk=SK, faults=faults)) as sim:
        asyncio.run(calls(sim))
    assert [getattr(e, "status", None) for e in caught] == [401, 401, 403]
    assert any("ak not exist" in (e.error_msg or "") or "ak not exist" in str(e) for e in caught)

    # Credential errors: one value missing, the others canaries.
    for build in (lambda: AkSkCredentials(AK, ""), lambda: AkSkCredentials("", SK),
                  lambda: TokenCredentials("user", "", "domain"),
                  lambda: TokenCredentials.from_env({"HUAWEICLOUD_SDK_USERNAME": "u", "HUAWEICLOUD_SDK_PASSWORD": SK}),
                  lambda: AkSkCredentials.from_env({"HUAWEICLOUD_SDK_AK": AK})):
        try:
            build()
        except CredentialsError as exc:
            caught.append(exc)
    assert sum(isinstance(e, CredentialsError) for e in caught) == 5

    # Config errors with the canaries in the environment and in the file (under a secret-looking key).
    (tmp_path / "poolscope.yaml").write_text(f"storage: {{root: d}}\ncredentials: {{sk: {SK}}}\n"
                                             "targets: [{region: cn-north-4, project_id: p1}]\n")
    (tmp_path / "bad.yaml").write_text(f"storage: {{root: d}}\ntargets: [{{region: cn-north-4, project_id: {AK}x/}}]\n")
    (tmp_path / "ok.yaml").write_text("storage: {root: d}\ncredentials: {method: token}\n"
                                      "targets: [{region: cn-north-4, project_id: p1}]\n")
    for name in ("poolscope.yaml", "bad.yaml"):
        try:
            load_config(tmp_path / name)
        except ConfigError as exc:
            caught.append(exc)
    try:
        load_credentials(load_config(tmp_path / "ok.yaml"))
    except CredentialsError as exc:
        caught.append(exc)
    assert sum(isinstance(e, ConfigError) for e in caught) == 2 and len(caught) == 11
    # repr/str of the credentials themselves
    texts = [repr(AkSkCredentials(AK, SK, WRONG_SK)), str(AkSkCredentials(UNKNOWN_AK, SK)),
             repr(TokenCredentials("u", SK, "d"))]
    texts += [t for e in caught for t in _exception_texts(e)]
    leaks = [(text[:120], canary) for text in texts for canary in CANARIES if canary in text]
    assert leaks == []
