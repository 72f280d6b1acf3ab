"""`poolscope migrate` (pipeline/lake/migrate.py): a lake of the folder protocol, with a compacted day, a re-run
before and a re-run after the compaction, copied into Delta tables on a local disk and on a real S3 server
(SeaweedFS). The new lake shows what the old catalog showed, table by table and snapshot by snapshot, with the
documented views on top; the raw sets arrive byte for byte; a second run skips what is there; a difference is
found and named."""

import hashlib
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from clikit import cli_env
from lakekit import flavor_doc, pool_doc, publish_snapshot, utc
from pipeline.catalog.views import delta_connection
from pipeline.lake.compaction import compact_lake
from pipeline.lake.delta import DeltaLake
from pipeline.lake.layout import Layout
from pipeline.lake.migrate import MigrationError, migrate
from pipeline.lake.storage import storage_for
from s3kit import seaweed

TABLES_COMPARED = ("pools", "pool_labels", "pool_capacity", "fetches", "snapshots", "flavors", "pool_resources")


def _fleet(hour: int, extra: bool = False) -> dict:
    pools = [pool_doc("pool-a", available={"modelarts.vm.gpu.a": 2}),
             pool_doc("pool-b", available={"modelarts.vm.cpu.b": 1 + hour % 3})]
    if extra:
        pools.append(pool_doc("pool-c", available={"modelarts.vm.cpu.b": 4}))
    return {("cn-north-4", "p1"): pools, ("cn-north-4", "p2"): [pool_doc("pool-d")] if hour % 2 else 403}


@pytest.fixture(scope="module")
def old_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("old")
    flavors = {("cn-north-4", "p1"): [flavor_doc("modelarts.vm.gpu.a", gpu=("A100", 8)), flavor_doc("modelarts.vm.cpu.b")]}
    for hour in (20, 21, 22, 23):
        publish_snapshot(root, utc(2026, 11, 30, hour), _fleet(hour), flavors=flavors, catalog=False)
    publish_snapshot(root, utc(2026, 11, 30, 21), _fleet(21, extra=True), flavors=flavors, catalog=False)  # re-run
    compact_lake(Layout(root), ["2026-11-30"], grace_s=0)
    publish_snapshot(root, utc(2026, 11, 30, 22), _fleet(22, extra=True), flavors=flavors, catalog=False)  # after it
    for hour in (0, 1):
        publish_snapshot(root, utc(2026, 12, 1, hour), _fleet(hour), flavors=flavors)
    return root


def _counts(con: duckdb.DuckDBPyConnection, table: str) -> list:
    return con.sql(f"SELECT snapshot_id, count(*) FROM {table} GROUP BY ALL ORDER BY ALL").fetchall()


def _digests(root, rel: str = "lake/raw") -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (root / rel).rglob("*") if p.is_file()}


@pytest.mark.parametrize("where", ["local", "s3"])
def test_migrate_copies_what_the_old_catalog_shows_and_checks_it(old_lake, tmp_path, where):
    with (seaweed(tmp_path) if where == "s3" else _nothing()) as s3:
        if s3:
            env = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}
            storage = storage_for(f"s3://{s3.bucket}/migrated", {"endpoint": s3.endpoint, "region": s3.region},
                                  environ=env)
        else:
            env, storage = {}, storage_for(str(tmp_path / "new"), environ={})
        target = DeltaLake(storage, env)
        days = []
        result = migrate(Layout(old_lake), target, on_day=lambda day, n, total: days.append((day, n, total)))
        assert result.mismatches == []
        assert result.days == ["2026-11-30", "2026-12-01"] and result.snapshots == 6 and result.skipped == []
        assert days == [("2026-11-30", 1, 2), ("2026-12-01", 2, 2)]
        assert result.rows["snapshots"] == 6 and result.checked["pools"] == result.rows["pools"]

        old = duckdb.connect(str(old_lake / "inventory.duckdb"), read_only=True)
        new = delta_connection(target)
        try:
            for table in TABLES_COMPARED:
                assert _counts(new, table) == _counts(old, table), table
            # the re-runs' rows, not the replaced writes'
            assert new.sql("SELECT count(*) FROM pools WHERE snapshot_id = '20261130T210000Z'").fetchall() == [(4,)]
            assert new.sql("SELECT count(*) FROM pools WHERE snapshot_id = '20261130T220000Z'").fetchall() == [(3,)]
            q = ("SELECT snapshot_day, pool_id, sum(nodes_available) FROM pool_capacity GROUP BY ALL ORDER BY ALL")
            if "nodes_available" in {r[0] for r in old.sql("DESCRIBE pool_capacity").fetchall()}:
                assert new.sql(q).fetchall() == old.sql(q).fetchall()
            # the documented views work on top of the new tables
            assert new.sql("SELECT count(*) FROM current_pools").fetchall() == \
                old.sql("SELECT count(*) FROM current_pools").fetchall()
            assert "write_id" not in {r[0] for r in new.sql("DESCRIBE pools").fetchall()}
        finally:
            old.close()
            new.close()

        # raw sets byte for byte
        fs = target.filesystem()
        want = _digests(old_lake)
        assert result.raw_files == len(want)
        for rel, digest in want.items():
            with fs.open_input_stream(storage.fs_path(rel)) as fh:
                assert hashlib.sha256(fh.read()).hexdigest() == digest, rel

        again = migrate(Layout(old_lake), target)
        assert again.days == [] and again.skipped == ["2026-11-30", "2026-12-01"] and again.raw_files == 0
        assert again.mismatches == []

        # a row lost in the new lake is found and named
        target.open("pool_labels").delete("snapshot_id = '20261201T000000Z' AND pool_id = 'pool-a'")
        lost = migrate(Layout(old_lake), target, raw=False)
        assert lost.mismatches and all(m.startswith("pool_labels 20261201T000000Z: old ") for m in lost.mismatches)


def test_migrate_refuses_to_write_over_the_old_lake(old_lake):
    with pytest.raises(MigrationError, match="another root than the old one"):
        migrate(Layout(old_lake), DeltaLake(storage_for(str(old_lake), environ={})))


POOLSCOPE = str(Path(sys.executable).parent / "poolscope")


def _config(tmp_path, root) -> Path:
    path = tmp_path / "poolscope.yaml"
    path.write_text(f"storage:\n  root: {root}\ntargets:\n  - region: cn-north-4\n    project_id: p1\n")
    return path


def test_the_cli_migrates_to_a_bucket_and_says_what_it_checked(old_lake, tmp_path):
    config = _config(tmp_path, old_lake)
    with seaweed(tmp_path) as s3:
        env = cli_env(AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key,
                      AWS_ENDPOINT_URL=s3.endpoint, AWS_REGION=s3.region)
        run = subprocess.run([POOLSCOPE, "migrate", "--config", str(config), "--to", f"s3://{s3.bucket}/x"],
                             env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert run.stdout.startswith(f"migrated 2 day(s), 6 snapshot(s) to s3://{s3.bucket}/x at {s3.endpoint}")
        assert "checked, rows per table: " in run.stdout and "pools: " in run.stdout
        assert s3.secret_key not in run.stdout + run.stderr

        # no credentials: refused before anything is written, naming the variables
        bare = {k: v for k, v in env.items() if not k.startswith("AWS_ACCESS") and not k.startswith("AWS_SECRET")}
        run = subprocess.run([POOLSCOPE, "migrate", "--config", str(config), "--to", f"s3://{s3.bucket}/y"],
                             env=bare, capture_output=True, text=True, timeout=300)
        assert run.returncode == 2 and "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set" in run.stderr

    run = subprocess.run([POOLSCOPE, "migrate", "--config", str(config), "--to", "s3://lake/x"],
                         env=cli_env(AWS_ACCESS_KEY_ID="a", AWS_SECRET_ACCESS_KEY="b"), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and "--region: needed for a bucket" in run.stderr and "give --region" in run.stderr
    run = subprocess.run([POOLSCOPE, "migrate", "--config", str(config), "--to", "s3://lake/x", "--region", "r",
                          "--endpoint", "http://10.1.2.3:9000"], env=cli_env(), capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2 and "--endpoint: 'http://10.1.2.3:9000': plain http is allowed only on a loopback" \
        in run.stderr
    run = subprocess.run([POOLSCOPE, "migrate", "--config", str(config), "--to", str(old_lake)], env=cli_env(),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "another root than the old one" in run.stderr


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
