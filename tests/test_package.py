"""The package as users get it: a wheel built from the repo (through its sdist; tests/packagekit.py builds it once
per test run), installed non-editable into a fresh virtual environment, run from a folder outside the repo
against the simulator; and a poolscope table read as a pandas DataFrame.

The fresh venv gets the locked dependencies (`uv export --format pylock.toml`: exact files by URL, so uv takes
them from its cache, where `make install` put them, and downloads only what is missing) plus the wheel itself.
"""

import signal
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
import yaml

from lakekit import pool_doc, publish_snapshot, utc
from packagekit import built_package  # noqa: F401 -- the fixture
from packagekit import run as _run
from packagekit import user_env as _user_env
from packagekit import uv as _uv

REPO = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
AK, SK = "AKPACKAGETEST0000001", "package-test-sk-0123456789abcdefghijkl"
# `poolscope dev` in the installed package, with Dagster replaced by a recorder of how it would be started (the
# real Dagster webserver is what `make dev` is for; the code location it names is loaded for real below).
DEV_PROBE = """
import json, sys
from pathlib import Path
from pipeline import demo
from pipeline.cli import build_parser
import pipeline.runner  # dagster runs `file` at import: imported before Popen is replaced
seen = {}
class Recorder:
    def __init__(self, argv, **kwargs):
        seen["argv"], self.pid = list(argv), 0
    def wait(self, timeout=None):
        return 0
demo.subprocess.Popen, demo.signal.signal = Recorder, lambda *a: None
out = Path(sys.argv[1])
out.mkdir()
(out / "demo.json").write_text(json.dumps({"projects": 1, "pools_per_project": 1, "seed": 1, "port": 0}))
assert demo.dev_command(build_parser().parse_args(["dev", "--out", str(out), "--port", "3999"])) == 0
argv = seen["argv"]
print(argv[argv.index("--workspace") + 1])
"""
REPORT_FILES = ("poolscope-reports.xlsx", "poolscope-reports.html", "coverage.csv", "capacity_total.csv",
                "capacity_by_region.csv", "capacity_by_project.csv", "capacity_by_pool.csv", "capacity_by_flavor.csv",
                "capacity_sub_pools.csv", "billing_modes.csv", "subscriptions.csv", "idle_capacity.csv",
                "pressure.csv", "pool_changes.csv")


def test_catalog_table_reads_as_dataframe(tmp_path):
    """README's way to read a table in pandas: `.df()` on a read-only catalog connection (it needs numpy and
    pandas, runtime dependencies)."""
    publish_snapshot(tmp_path, utc(2026, 11, 1, 0), {("cn-north-4", "p1"): [
        pool_doc("pool-a", available={"f1": 2}), pool_doc("pool-b", available={"f1": 3})]})
    con = duckdb.connect(str(tmp_path / "inventory.duckdb"), read_only=True)
    try:
        frame = con.sql("select * from pools").df()
    finally:
        con.close()
    assert sorted(frame["pool_id"]) == ["pool-a", "pool-b"]
    assert {"region", "project_id", "snapshot_id"} <= set(frame.columns)


def test_source_checkout_reads_the_repo_sql():
    """Editable install or source tree: no package data, the SQL is the repo's own `sql/` (edits show at once)."""
    from pipeline import sqlfiles

    assert Path(sqlfiles.SQL_ROOT) == REPO / "sql"
    assert sqlfiles.sql_text("normalize", "pools") == (REPO / "sql" / "normalize" / "pools.sql").read_text("utf-8")
    assert set(sqlfiles.sql_names("checks")) == {p.stem for p in (REPO / "sql" / "checks").glob("*.sql")}


def _repo_sql_files() -> set[str]:
    return {p.relative_to(REPO / "sql").as_posix() for p in (REPO / "sql").rglob("*.sql")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory, built_package):
    base = tmp_path_factory.mktemp("package")
    assert not base.resolve().is_relative_to(REPO)
    assert not built_package.dist.resolve().is_relative_to(REPO)
    uv, venv, wheel, sdist = _uv(), base / "venv", built_package.wheel, built_package.sdist
    env = _user_env()
    lock = base / "pylock.toml"
    _run([uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--format", "pylock.toml",
          "--preview-features", "pylock", "--project", str(REPO), "-o", str(lock)], cwd=base, env=env)
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=base, env=env)
    python = venv / "bin" / "python"
    _run([uv, "pip", "install", "--python", str(python), "--preview-features", "pylock", "-r", str(lock)],
         cwd=base, env=env)
    # The wheel on its own: --no-deps, then `pip check` proves its declared dependencies are all installed.
    _run([uv, "pip", "install", "--python", str(python), "--no-deps", str(wheel)], cwd=base, env=env)
    _run([uv, "pip", "check", "--python", str(python)], cwd=base, env=env)
    return SimpleNamespace(base=base, wheel=wheel, sdist=sdist, venv=venv, python=python,
                           poolscope=venv / "bin" / "poolscope")


def test_wheel_and_sdist_carry_every_sql_file(installed):
    sql = _repo_sql_files()
    assert len(sql) >= 40
    with zipfile.ZipFile(installed.wheel) as whl:
        in_wheel = {n.removeprefix("pipeline/_sql/") for n in whl.namelist() if n.startswith("pipeline/_sql/")}
        requires = [line for line in whl.read(f"poolscope-{VERSION}.dist-info/METADATA").decode().splitlines()
                    if line.startswith("Requires-Dist:")]
    assert in_wheel == sql
    assert any(r.split()[1].startswith("pandas") for r in requires), requires
    assert not any("dagster-duckdb" in r for r in requires), requires
    with tarfile.open(installed.sdist) as sd:
        top = f"poolscope-{VERSION}/sql/"
        in_sdist = {n.removeprefix(top) for n in sd.getnames() if n.startswith(top) and n.endswith(".sql")}
    assert in_sdist == sql


def test_installed_package_is_imported_from_site_packages(installed):
    outside = installed.base / "elsewhere"
    outside.mkdir()
    out = _run([str(installed.python), "-c",
                "import sysconfig, pipeline, pipeline.sqlfiles as s;"
                "print(sysconfig.get_paths()['purelib']); print(pipeline.__file__); print(s.SQL_ROOT);"
                "print(len(s.sql_names('normalize')))"], cwd=outside, env=_user_env())
    purelib, init, root, normalize_files = out.splitlines()
    assert Path(init) == Path(purelib) / "pipeline" / "__init__.py"
    assert Path(root) == Path(purelib) / "pipeline" / "_sql"
    assert int(normalize_files) == len([n for n in _repo_sql_files() if n.startswith("normalize/")])
    assert _run([str(installed.poolscope), "--version"], cwd=outside, env=_user_env()).strip() == \
        f"poolscope {VERSION}"


def test_installed_poolscope_snapshots_and_reports_against_the_simulator(installed):
    work = installed.base / "work"
    work.mkdir()
    env = _user_env(HUAWEICLOUD_SDK_AK=AK, HUAWEICLOUD_SDK_SK=SK)
    sim = subprocess.Popen(
        [str(installed.poolscope), "simulator", "--port", "0", "--projects", "2", "--pools-per-project", "3",
         "--config-out", "poolscope.yaml", "--storage-root", "./data"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        started = []
        for line in sim.stdout:
            started.append(line)
            if line.startswith("Ctrl-C to stop"):
                break
        assert (work / "poolscope.yaml").is_file(), "simulator did not start:\n" + "".join(started)
        _run([str(installed.poolscope), "snapshot", "--config", "poolscope.yaml", "--no-progress"], cwd=work,
             env=env)
        report = _run([str(installed.poolscope), "report", "--config", "poolscope.yaml", "--out", "reports"],
                      cwd=work, env=env)
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.communicate(timeout=30)
    assert sim.returncode == 0
    assert "reports for" in report
    for name in REPORT_FILES:
        assert (work / "reports" / name).stat().st_size > 0, name
    # The catalog, read by the installed interpreter as a user would (pandas comes with the wheel).
    out = _run([str(installed.python), "-c",
                "import duckdb; c = duckdb.connect('data/inventory.duckdb', read_only=True);"
                "print(len(c.sql('select * from pools').df()));"
                "print(c.execute(\"select count(*) from fetches where outcome = 'ok'\").fetchall()[0][0]);"
                "print(','.join(r[0] for r in c.execute('select status from snapshots').fetchall()))"],
               cwd=work, env=env)
    pools, fetches_ok, statuses = out.split()
    assert int(pools) == 6 and int(fetches_ok) >= 2 and statuses == "complete"
    # The Dagster code location loads from the installed package (its asset checks read SQL headers).
    out = _run([str(installed.python), "-c",
                "import dagster as dg; from pipeline.definitions import build_definitions;"
                "d = build_definitions('poolscope.yaml'); dg.Definitions.validate_loadable(d);"
                "print(len(d.resolve_all_asset_specs()))"], cwd=work, env=env)
    assert int(out.split()[-1]) >= 3


def test_installed_poolscope_dev_names_a_workspace_that_exists(installed):
    """The installed `poolscope dev` hands Dagster a workspace file that exists and loads the packaged code
    location (the repo's workspace.yaml is not in a wheel)."""
    outside = installed.base / "dev"
    outside.mkdir()
    workspace = Path(_run([str(installed.python), "-c", DEV_PROBE, str(outside / "demo")], cwd=outside,
                          env=_user_env()).strip().splitlines()[-1])
    assert workspace.is_file(), workspace
    assert (installed.python.parent / "dg").is_file()  # what `poolscope dev` starts: dagster-dg-cli is a dependency
    assert yaml.safe_load(workspace.read_text(encoding="utf-8")) == \
        yaml.safe_load((REPO / "workspace.yaml").read_text(encoding="utf-8"))


def test_installed_poolscope_init_writes_the_packaged_template(installed):
    """The template is package data: in the wheel, and what the installed `poolscope init` writes outside the
    repo is the repo's file."""
    template = (REPO / "pipeline" / "templates" / "poolscope.yaml").read_text(encoding="utf-8")
    with zipfile.ZipFile(installed.wheel) as whl:
        assert whl.read("pipeline/templates/poolscope.yaml").decode("utf-8") == template
    with tarfile.open(installed.sdist) as sd:
        assert f"poolscope-{VERSION}/pipeline/templates/poolscope.yaml" in sd.getnames()
    outside = installed.base / "init"
    outside.mkdir()
    _run([str(installed.poolscope), "init"], cwd=outside, env=_user_env())
    assert (outside / "poolscope.yaml").read_text(encoding="utf-8") == template
