"""`poolscope migrate` (pipeline/lake/migrate.py): a lake of the folder protocol, with a compacted day, a re-run
before and a re-run after the compaction, copied into Delta tables on a local disk and on a real S3 server
(SeaweedFS). The new lake shows what the old catalog showed, table by table and snapshot by snapshot, with the
documented views on top; the raw sets arrive byte for byte; a second run skips what is there; a difference is
found and named."""

import hashlib
import subprocess
import sys
from pathlib import Path

from datetime import date

import duckdb
import pytest

from clikit import cli_env
from folderlake import FolderLake
from lakekit import flavor_doc, pool_doc, publish_snapshot, utc
from pipeline.catalog.views import delta_connection
from pipeline.lake.delta import DeltaLake
from pipeline.lake.layout import Layout
from pipeline.lake.migrate import MigrationError, migrate
from pipeline.lake.storage import storage_for
from s3kit import seaweed

TABLES_COMPARED = ("pools", "pool_labels", "pool_capacity", "fetches", "snapshots", "flavors", "pool_resources")
FLAVORS = {("cn-north-4", "p1"): [flavor_doc("modelarts.vm.gpu.a", gpu=("A100", 8)), flavor_doc("modelarts.vm.cpu.b")]}
BASE = [utc(2026, 11, 30, h) for h in (20, 21, 22, 23)] + [utc(2026, 12, 1, h) for h in (0, 1)]
RERUN = [utc(2026, 11, 30, 21), utc(2026, 11, 30, 22)]


def _fleet(hour: int, extra: bool = False) -> dict:
    pools = [pool_doc("pool-a", available={"modelarts.vm.gpu.a": 2}),
             pool_doc("pool-b", available={"modelarts.vm.cpu.b": 1 + hour % 3})]
    if extra:
        pools.append(pool_doc("pool-c", available={"modelarts.vm.cpu.b": 4}))
    return {("cn-north-4", "p1"): pools, ("cn-north-4", "p2"): [pool_doc("pool-d")] if hour % 2 else 403}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Two lakes made by the pipeline: the base fleet's snapshots, and re-runs of two of them with a third pool."""
    base, rerun = tmp_path_factory.mktemp("base"), tmp_path_factory.mktemp("rerun")
    for at in BASE:
        publish_snapshot(base, at, _fleet(at.hour), flavors=FLAVORS, catalog=False)
    for at in RERUN:
        publish_snapshot(rerun, at, _fleet(at.hour, extra=True), flavors=FLAVORS, catalog=False)
    return base, rerun


@pytest.fixture(scope="module")
def old_lake(sources, tmp_path_factory):
    """The old format with everything its readers had to get right: a re-run before the day's compaction (its
    first write's file stays on disk), the compacted day, and a re-run after it (the day file's rows of that
    snapshot are stale)."""
    base, rerun = sources
    root = tmp_path_factory.mktemp("old")
    old = FolderLake(root)
    for at in BASE[:4]:
        old.copy_snapshot(base, at.strftime("%Y%m%dT%H%M%SZ"), f"w{at.hour}")
    old.copy_snapshot(rerun, "20261130T210000Z", "r21")
    old.compact("2026-11-30", "d1")
    old.copy_snapshot(rerun, "20261130T220000Z", "r22")
    for at in BASE[4:]:
        old.copy_snapshot(base, at.strftime("%Y%m%dT%H%M%SZ"), f"w{at.hour}")
    return root


def _counts(con: duckdb.DuckDBPyConnection, table: str) -> list:
    return con.sql(f"SELECT snapshot_id, count(*) FROM {table} GROUP BY ALL ORDER BY ALL").fetchall()


def _digests(root, rel: str = "lake/raw") -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (root / rel).rglob("*") if p.is_file()}


def _expected(sources, table: str) -> list:
    """Rows per snapshot the old lake holds: the re-runs' for 21h and 22h, the base lake's for the rest."""
    base, rerun = (delta_connection(Layout(r).tables()) for r in sources)
    try:
        got = dict(_counts(base, table))
        got.update({sid: n for sid, n in _counts(rerun, table)})
        for sid in ("20261130T210000Z", "20261130T220000Z"):
            if sid not in dict(_counts(rerun, table)):
                got.pop(sid, None)
        return sorted(got.items())
    finally:
        base.close()
        rerun.close()


@pytest.mark.parametrize("where", ["local", "s3"])
def test_migrate_copies_what_the_old_lake_holds_and_checks_it(sources, old_lake, tmp_path, where):
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

        new = delta_connection(target)
        try:
            for table in TABLES_COMPARED:
                assert _counts(new, table) == _expected(sources, table), table
            # the re-runs' rows, not the replaced writes' (nor the compacted file's stale ones)
            assert new.sql("SELECT count(*) FROM pools WHERE snapshot_id = '20261130T210000Z'").fetchall() == [(4,)]
            assert new.sql("SELECT count(*) FROM pools WHERE snapshot_id = '20261130T220000Z'").fetchall() == [(3,)]
            assert new.sql("SELECT DISTINCT snapshot_day FROM pools ORDER BY 1").fetchall() == [
                (date(2026, 11, 30),), (date(2026, 12, 1),)]
            # the documented views work on top of the new tables
            assert ("pool-c",) in new.sql("SELECT pool_id FROM current_pools").fetchall()
            assert "write_id" not in {r[0] for r in new.sql("DESCRIBE pools").fetchall()}
            assert "commit_record" not in {r[0] for r in new.sql("DESCRIBE snapshots").fetchall()}
        finally:
            new.close()
        # what the pipeline reads of the committed snapshots: the old manifests' raw sets and checks
        if not s3:
            from pipeline.lake.store import read_manifests as committed

            got = {m.snapshot_id: (m.write_id, m.raw_dir) for m in committed(Layout(storage.local))}
            assert got["20261130T220000Z"] == ("r22", "lake/raw/snapshot_id=20261130T220000Z/r22")

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


def test_the_pipeline_refuses_an_old_lake_and_says_how_to_migrate(old_lake, tmp_path):
    config = _config(tmp_path, old_lake)
    run = subprocess.run([POOLSCOPE, "snapshot", "--config", str(config)], env=cli_env(ak="a" * 20, sk="b" * 40),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "format before Delta tables" in run.stderr and "poolscope migrate --config" in run.stderr
    assert not (old_lake / "lake" / "pools" / "_delta_log").exists()


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
