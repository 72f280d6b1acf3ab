"""`poolscope sql`: the DuckDB shell on the catalog, read-only; `-c` for scripts; the tables listed on entry."""

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from clikit import cli_env
from lakekit import pool_doc, publish_snapshot, utc
from ptykit import Terminal

POOLSCOPE = str(Path(sys.executable).parent / "poolscope")
POOLS = [f"pool-{i:02d}" for i in range(45)]  # more rows than the shell's table boxes show (40)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """A folder holding poolscope.yaml and, under data/, one snapshot: 44 pools in cn-north-4/p1, 1 in cn-east-3/p2."""
    folder = tmp_path_factory.mktemp("sql")
    (folder / "poolscope.yaml").write_text("storage: {root: ./data}\n"
                                           "targets: [{region: cn-north-4, project_id: p1}, "
                                           "{region: cn-east-3, project_id: p2}]\n")
    publish_snapshot(folder / "data", utc(2026, 11, 1, 0), {
        ("cn-north-4", "p1"): [pool_doc(name, available={"f1": 2}) for name in POOLS[:44]],
        ("cn-east-3", "p2"): [pool_doc(POOLS[44], available={"f1": 3})],
    })
    return folder


def sql(lake: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([POOLSCOPE, "sql", "--config", str(lake / "poolscope.yaml"), *args], input=stdin,
                          capture_output=True, text=True, env=cli_env(), cwd="/", timeout=60)


def test_c_prints_every_row_of_a_result(lake):
    proc = sql(lake, "--mode", "csv", "-c", "SELECT pool_id FROM pools ORDER BY pool_id")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["pool_id", *POOLS]
    # the default table boxes too: all 45 rows, none elided
    boxed = sql(lake, "-c", "SELECT pool_id, region FROM pools ORDER BY pool_id")
    assert boxed.returncode == 0, boxed.stderr
    rows = [line for line in boxed.stdout.splitlines() if "pool-" in line]
    assert [r.split("│")[1].strip() for r in rows] == POOLS
    assert rows[-1].split("│")[2].strip() == "cn-east-3"
    summed = sql(lake, "--mode", "json", "-c", "SELECT region, sum(count)::INTEGER AS nodes FROM physical_capacity "
                                               "WHERE state = 'available' GROUP BY ALL ORDER BY region")
    # 1 x 3 and 44 x 2 available nodes
    assert summed.stdout.split() == ['[{"region":"cn-east-3","nodes":3},', '{"region":"cn-north-4","nodes":88}]']


def test_the_catalog_cannot_be_changed_through_it(lake):
    for statement in ("CREATE TABLE t AS SELECT 1", "DROP VIEW pools", "COMMENT ON VIEW pools IS 'x'"):
        proc = sql(lake, "-c", statement)
        assert proc.returncode == 1, statement
        assert "read-only mode" in proc.stderr, proc.stderr
    con = duckdb.connect(str(lake / "data" / "inventory.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM pools").fetchone()[0] == 45
        assert con.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0] == 0
    finally:
        con.close()


def test_interactive_shell_lists_the_tables_and_answers(lake):
    con = duckdb.connect(str(lake / "data" / "inventory.duckdb"), read_only=True)
    try:
        views = [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()]
    finally:
        con.close()
    # Started as a person would: in the config's folder, without --config (./poolscope.yaml is the default).
    term = Terminal([POOLSCOPE, "sql"], cwd=lake, env=cli_env())
    try:
        term.expect(r"D $|D \s*$")  # the shell's prompt
        listing = term.text
        assert f"{len(views)} tables:" in listing and len(views) > 30
        assert all(v in listing.split() for v in views), listing
        term.type("SELECT 'pools=' || count(*) AS answer FROM current_pools;")
        term.expect(r"pools=45")
        term.type(".quit")
    finally:
        code = term.close()
    assert code == 0, term.text


def test_sql_piped_in_runs_without_the_listing(lake):
    proc = sql(lake, "--mode", "list", stdin="SELECT count(DISTINCT region) FROM pools;\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["count(DISTINCT", "region)", "2"]


def test_no_catalog_or_no_config_is_a_usage_error(tmp_path):
    (tmp_path / "poolscope.yaml").write_text("storage: {root: ./data}\n"
                                             "targets: [{region: cn-north-4, project_id: p1}]\n")
    proc = subprocess.run([POOLSCOPE, "sql", "-c", "SELECT 1"], capture_output=True, text=True, env=cli_env(),
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert "no catalog at" in proc.stderr and "poolscope snapshot --config" in proc.stderr
    proc = subprocess.run([POOLSCOPE, "sql", "--config", "missing.yaml"], capture_output=True, text=True,
                          env=cli_env(), cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "missing.yaml" in proc.stderr
