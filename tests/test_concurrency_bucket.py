"""The concurrency suite of tests/test_concurrency.py with the lake in a bucket (SeaweedFS, a real S3 server), and
writers on different machines sharing one bucket lake: no lock reaches across them, only Delta's conditional
commits. Two machines commit snapshots at the same moment while a third compacts
the same day; every snapshot is then visible whole, with exactly the rows its commit recorded, none lost and none
twice, from a fourth machine that has never seen the lake."""

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from clikit import REPO, cli_env
from pipeline.catalog.views import delta_connection
from pipeline.config import load_config
from pipeline.simulator import SimulatorConfig, run_simulator
from s3kit import aws_env, bucket_storage, put_lake_in_bucket, seaweed
from test_concurrency import (  # noqa: F401 -- the local suite, collected here with the lake in a bucket
    test_a_reader_holding_the_catalog_sees_one_state_through_snapshots_and_compaction,
    test_rerunning_a_snapshot_id_gives_the_same_rows_not_more,
    test_two_snapshots_started_at_once_with_wait_both_commit_whole,
)

AK, SK = "AKBUCKETCONC00000001", "bucket-concurrency-sk-0123456789abcdefg"
TABLES = ("fetches", "pools", "pool_labels", "pool_capacity", "pool_resources", "flavors")

# One snapshot at a given moment, through the same job the CLI runs (`poolscope snapshot` has no --at).
SNAPSHOT_AT = """
import sys
from datetime import datetime
from pipeline.config import load_config
from pipeline.flow import run_snapshot
result = run_snapshot(load_config(sys.argv[1]), snapshot_at=datetime.fromisoformat(sys.argv[2]), lock_wait_s=120)
print(result.snapshot_id, result.status)
"""


@pytest.fixture
def storage(tmp_path, monkeypatch):
    yield from bucket_storage(tmp_path, monkeypatch, "concurrency")


def machine(tmp_path: Path, name: str, sim, s3) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return put_lake_in_bucket(sim.write_config(folder / "poolscope.yaml"), s3, "shared", work="./work")


def test_two_machines_commit_while_a_third_compacts_without_a_lost_or_duplicated_row(tmp_path, monkeypatch):
    with seaweed(tmp_path / "s3") as s3, run_simulator(SimulatorConfig(projects=4, pools_per_project=5, seed=17,
                                                                       ak=AK, sk=SK)) as sim:
        for name, value in aws_env(s3).items():
            monkeypatch.setenv(name, value)
        env = cli_env(AK, SK, **aws_env(s3))
        a, b, c, d = (machine(tmp_path, n, sim, s3) for n in ("a", "b", "c", "d"))
        t0 = sim.fleet.now.replace(minute=0, second=0, microsecond=0)

        def snapshot(config: Path, at) -> subprocess.Popen:
            return subprocess.Popen([sys.executable, "-c", SNAPSHOT_AT, str(config), at.isoformat()],
                                    cwd=config.parent, env={**env, "PYTHONPATH": str(REPO)},
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        for minutes in (0, 10):  # two files per table in the day: a compaction has work from the start
            first = snapshot(a, t0 + timedelta(minutes=minutes))
            assert first.wait(300) == 0, first.communicate()
        sim.advance(1)
        writers = [snapshot(a, t0 + timedelta(minutes=20)), snapshot(b, t0 + timedelta(minutes=40))]
        compactions = []
        while any(w.poll() is None for w in writers) and len(compactions) < 20:
            # compacting the day the writers are committing to, again and again until they are done
            compactions.append(subprocess.run([sys.executable, "-m", "pipeline.cli", "compact", "--config", str(c),
                                               "--include-latest"], cwd=c.parent, env=env, capture_output=True,
                                              text=True, timeout=300))
        results = [(w.wait(300), *w.communicate()) for w in writers]
        assert [r[0] for r in results] == [0, 0], results
        assert compactions and all(r.returncode == 0 for r in compactions), compactions
        # The re-run of a committed snapshot from the other machine, while nothing else runs: it replaces it.
        again = snapshot(b, t0)
        assert again.wait(300) == 0, again.communicate()

        lake = load_config(d).layout().tables()
        snaps = lake.open("snapshots").to_pyarrow_table(columns=["snapshot_id", "write_id", "commit_record"])
        records = {r["snapshot_id"]: json.loads(r["commit_record"])["tables"] for r in snaps.to_pylist()}
        assert len(records) == 4 and snaps.num_rows == 4, sorted(records)
        con = delta_connection(lake, mirror=tmp_path / "d" / "mirror")
        try:
            for table in TABLES:
                seen = dict(con.execute(f"SELECT snapshot_id, count(*) FROM {table} GROUP BY 1").fetchall())
                want = {sid: t[table]["rows"] for sid, t in records.items() if t.get(table, {}).get("rows")}
                assert seen == want, (table, seen, want)
            assert con.execute("SELECT count(*) - count(DISTINCT (snapshot_id, project_id, pool_id)) "
                               "FROM pools").fetchall() == [(0,)]
        finally:
            con.close()
        # The compactions committed rewrites of the day while the writers were at work.
        operations = [h["operation"] for h in lake.open("pools").history()]
        assert "OPTIMIZE" in operations, (operations, [r.stdout for r in compactions])
        catalog = subprocess.run([sys.executable, "-m", "pipeline.cli", "sql", "--config", str(d), "-c",
                                  "SELECT count(*) FROM snapshots"], cwd=d.parent, env=env, capture_output=True,
                                 text=True, timeout=300)
        assert catalog.returncode == 0, catalog.stderr
        db = duckdb.connect(str(d.parent / "work" / "inventory.duckdb"), read_only=True)
        try:
            assert db.execute("SELECT count(*) FROM snapshots").fetchall() == [(4,)]
        finally:
            db.close()
