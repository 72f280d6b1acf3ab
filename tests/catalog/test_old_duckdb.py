"""inventory.duckdb in the DuckDB releases analysts have: the 1.4 LTS line (from its first release, 1.4.0, the
floor pipeline/catalog/views.py CATALOG_STORAGE_VERSION states), the 1.5 line (the DuckDB CLI, DBeaver's driver)
and the 2.x poolscope writes with. Each older release is installed from the package index into a throwaway
environment (uv venv + uv pip install, kept under the system's temp folder and reused), and every view of the
catalog is read whole through it, in a subprocess running that environment's python; its answers must be the
ones the current release gives. The DuckDB shell `poolscope sql` runs (the duckdb-cli package) reads every view
too.

Without uv or the package index the test is skipped with the reason, except under CI=true, where it fails.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pytest

from pipeline.catalog.docs import table_docs
from pipeline.catalog.views import CATALOG_STORAGE_VERSION, POOL_TABLES
from pipeline.config import load_config
from pipeline.flow import run_snapshot
from pipeline.modelarts import AkSkCredentials
from pipeline.simulator import SimulatorConfig, run_simulator
from pipeline.sqlfiles import sql_names
from pipeline.sqlshell import shell_command

REPO = Path(__file__).resolve().parents[2]
# Older releases checked: the first of the LTS line, the newest of the LTS line, the newest 1.5.
RELEASES = ("1.4.0", "1.4.*", "1.5.*")
ENVS = Path(tempfile.gettempdir()) / "poolscope-duckdb-envs"

# Every view read whole, each value as text (so no reader needs pytz or pandas for its Python types), sorted:
# per view its columns, row count and a digest of the rows.
PROBE = r"""
import duckdb, hashlib, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
views = [r[0] for r in con.execute(
    "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY view_name").fetchall()]
out = {"version": duckdb.__version__, "views": {}}
for v in views:
    cur = con.execute('SELECT COLUMNS(*)::VARCHAR FROM "' + v.replace('"', '""') + '"')
    columns = [d[0] for d in cur.description]
    rows = sorted(json.dumps(r) for r in cur.fetchall())
    out["views"][v] = [columns, len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()]
print(json.dumps(out))
"""


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


def _uv() -> str:
    found = shutil.which("uv") or next((str(p) for p in [REPO / ".tools" / "bin" / "uv"] if p.is_file()), None)
    if found is None:
        _unavailable("uv is not installed (make install bootstraps it into .tools/)")
    return found


def duckdb_python(spec: str) -> Path:
    """The python of a throwaway environment holding duckdb==`spec` from the package index, made once."""
    tag = f"duckdb-{spec.replace('*', 'x')}-py{sys.version_info.major}.{sys.version_info.minor}"
    folder = ENVS / tag
    python = folder / "bin" / "python"
    if (folder / "ready").is_file():
        return python
    uv = _uv()
    ENVS.mkdir(parents=True, exist_ok=True)
    # Built beside, then renamed into place: a concurrent test run never sees a half-installed environment.
    work = Path(tempfile.mkdtemp(prefix=f".{tag}.", dir=ENVS))
    env = {**os.environ, "UV_SYSTEM_CERTS": os.environ.get("UV_SYSTEM_CERTS", "1")}
    env.pop("VIRTUAL_ENV", None)
    try:
        for cmd in ([uv, "venv", "-q", "--python", sys.executable, str(work)],
                    [uv, "pip", "install", "-q", "--python", str(work / "bin" / "python"), f"duckdb=={spec}"]):
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                _unavailable(f"cannot install duckdb=={spec} from the package index: "
                             f"{(proc.stderr or proc.stdout).strip()[-800:]}")
        (work / "ready").write_text(spec)
        try:
            work.rename(folder)
        except OSError:  # another run made it meanwhile
            pass
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return python


def probe(python: str | Path, catalog: Path) -> dict:
    proc = subprocess.run([str(python), "-c", PROBE, str(catalog)], capture_output=True, text=True, timeout=300,
                          cwd="/")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    """A catalog over two hourly snapshots of a simulated fleet, every per-pool family on (nodes, workload
    statistics, events, monitor), so that every view reads files, the history has changes and the daily
    reports have rows."""
    root = tmp_path_factory.mktemp("lake")
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=4, seed=16)) as sim:
        cfg = sim.write_config(root / "poolscope.yaml", storage_root="./data")
        cfg.write_text(cfg.read_text() + "collect: {pool_nodes: true, workload_statistics: true, pool_events: true, "
                                         "pool_monitor: true, monitor_backfill_days: 1}\n")
        config = load_config(cfg)
        for _ in range(2):
            result = run_snapshot(config, credentials=AkSkCredentials(sim.ak, sim.sk), snapshot_at=sim.fleet.now)
            assert result.status == "complete", result
            sim.advance(hours=1)
    return root / "data" / "inventory.duckdb"


def test_duckdb_1_4_1_5_and_the_sql_shell_read_every_view_as_the_current_release_does(catalog):
    # One test over one lake (two Dagster snapshots: the costly part), so that parallel workers build it once.
    current = probe(sys.executable, catalog)
    assert duckdb.__version__.startswith("2."), duckdb.__version__
    views = current["views"]
    documented = set(table_docs()) | {f"current_{t}" for t in POOL_TABLES} | {
        n for n in sql_names("catalog") if not n.startswith("_")}
    assert documented <= set(views), sorted(documented - set(views))
    empty = {v for v, (_cols, n, _digest) in views.items() if n == 0}
    assert empty <= {"rejected_documents"}, sorted(empty)  # the simulator sends no unusable document

    con = duckdb.connect(str(catalog), read_only=True)
    try:
        storage = con.execute("SELECT tags['storage_version'] FROM duckdb_databases() "
                              "WHERE database_name = current_database()").fetchone()[0]
    finally:
        con.close()
    assert storage == f"{CATALOG_STORAGE_VERSION}+" and CATALOG_STORAGE_VERSION == "v1.4.0"  # "+": or newer

    failures = {}
    for spec in RELEASES:
        old = probe(duckdb_python(spec), catalog)
        assert old["version"].startswith(spec.rstrip(".*")), (spec, old["version"])
        differ = {v: (old["views"].get(v, ["missing"])[:2], views[v][:2]) for v in views
                  if old["views"].get(v) != views[v]}
        if differ or old["views"].keys() != views.keys():
            failures[old["version"]] = differ
    assert not failures, f"older DuckDB releases answer differently: {failures}"

    # The shell of `poolscope sql`: each view whole, rendered as text (the row as a struct), read-only.
    sql = " UNION ALL ".join(
        f"SELECT '{v}' AS view_name, count(*) AS n, count(CAST(t AS VARCHAR)) AS rendered FROM \"{v}\" AS t"
        for v in sorted(views))
    argv = shell_command(catalog, command=sql + " ORDER BY view_name", mode="json")
    assert argv is not None, "the duckdb-cli package is a dependency of poolscope"
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd="/")
    assert proc.returncode == 0, proc.stderr
    got = {r["view_name"]: (r["n"], r["rendered"]) for r in json.loads(proc.stdout)}
    assert got == {v: (n, n) for v, (_cols, n, _digest) in views.items()}
