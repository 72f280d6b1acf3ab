"""The pipeline with its lake in a bucket (`storage.root: s3://bucket/prefix`) on a real S3 server (SeaweedFS),
through the CLI a user runs: snapshots land their raw sets in the bucket byte for byte under
raw/region=/date=/snapshot_id=/<write>/, commit Delta tables there, publish the history and the report partitions
there; another machine (an empty work folder) opens every view with `poolscope sql` and sees what the first one
sees, renormalizes from the bucket's raw sets; bad bucket settings and missing credentials are clear errors
before any work; no credential reaches a file, an object or an output."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable
from pyarrow.fs import FileSelector, FileType

from clikit import cli_env
from pipeline.catalog.docs import table_docs
from pipeline.simulator import SimulatorConfig, run_simulator
from s3kit import aws_env, put_lake_in_bucket, seaweed

AK, SK = "AKBUCKETPIPE00000001", "bucket-pipeline-sk-0123456789abcdefghij"
PREFIX = "fleet/prod"
POOLSCOPE = [sys.executable, "-m", "pipeline.cli"]


def bucket_config(sim, path: Path, s3, *, work: str | None = None, endpoint: str | None = None) -> Path:
    """The simulator's config with the lake in the bucket (endpoint and region in the file)."""
    return put_lake_in_bucket(sim.write_config(path), s3, PREFIX, work=work, endpoint=endpoint)


def env_for(s3, **extra) -> dict:
    return cli_env(AK, SK, **aws_env(s3), **extra)


def run(args: list[str], cwd: Path, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*POOLSCOPE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def objects(s3, prefix: str) -> dict[str, bytes]:
    fs = s3.filesystem()
    out = {}
    for info in fs.get_file_info(FileSelector(f"{s3.bucket}/{prefix}", recursive=True, allow_not_found=True)):
        if info.type == FileType.File:
            with fs.open_input_stream(info.path) as src:
                out[info.path.removeprefix(f"{s3.bucket}/{prefix}/")] = src.read()
    return out


def counts(catalog: Path) -> dict[str, int]:
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in sorted(table_docs())}
    finally:
        con.close()


@pytest.fixture(scope="module")
def bucket_lake(tmp_path_factory):
    """Two snapshots (an hour apart in the fleet) into a bucket, run by the CLI from machine A's folder."""
    tmp = tmp_path_factory.mktemp("bucket")
    with seaweed(tmp) as s3, run_simulator(SimulatorConfig(projects=3, pools_per_project=4, seed=7, ak=AK,
                                                           sk=SK)) as sim:
        a = tmp / "machine-a"
        a.mkdir()
        config = bucket_config(sim, a / "poolscope.yaml", s3)
        outputs = []
        for _ in range(2):
            done = run(["snapshot", "--config", "poolscope.yaml", "--no-progress"], a, env_for(s3))
            assert done.returncode == 0, done.stderr
            outputs.append(done.stdout + done.stderr)
            sim.advance(1)
        yield {"s3": s3, "sim": sim, "a": a, "config": config, "outputs": outputs, "tmp": tmp}


def test_snapshots_land_raw_sets_tables_history_and_reports_in_the_bucket(bucket_lake):
    s3, a = bucket_lake["s3"], bucket_lake["a"]
    work = a / ".poolscope" / s3.bucket / PREFIX
    assert (work / "inventory.duckdb").is_file(), "the catalog file is in the work folder by default"
    in_bucket = objects(s3, PREFIX)
    # Raw sets: every landed file, byte for byte, under raw/region=all/date=<D>/snapshot_id=<ID>/<write>/
    local_raw = {p.relative_to(work / "lake" / "raw"): p.read_bytes()
                 for p in (work / "lake" / "raw").rglob("*") if p.is_file()}
    assert len({p.parts[0] for p in local_raw}) == 2
    for rel, data in local_raw.items():
        sid, write = rel.parts[0].removeprefix("snapshot_id="), rel.parts[1]
        key = f"raw/region=all/date={sid[:4]}-{sid[4:6]}-{sid[6:8]}/snapshot_id={sid}/{write}/{Path(*rel.parts[2:])}"
        assert hashlib.sha256(in_bucket[key]).digest() == hashlib.sha256(data).digest(), key
    # The tables are Delta tables in the bucket; their snapshots rows name the raw sets there.
    snaps = DeltaTable(f"s3://{s3.bucket}/{PREFIX}/lake/snapshots", storage_options=s3.storage_options())
    rows = snaps.to_pyarrow_table(columns=["snapshot_id", "commit_record"]).to_pylist()
    assert len(rows) == 2
    for r in rows:
        raw = json.loads(r["commit_record"])["raw_dir"]
        assert raw.startswith(f"raw/region=all/date=") and f"snapshot_id={r['snapshot_id']}/" in raw
        assert any(k.startswith(raw + "/") for k in in_bucket), raw
    assert "lake/pools/_delta_log/00000000000000000000.json" in in_bucket
    # The history (its record last) and the report partitions are published there too.
    record = json.loads(in_bucket["lake/_history/record.json"])
    assert record["count"] == 2
    assert record["state"].removeprefix("lake/") in {k.removeprefix("lake/") for k in in_bucket}
    assert any(k.startswith("lake/reports/capacity_utilization/day=") for k in in_bucket)
    # Nothing of the lake is written next to the config besides the work folder.
    assert sorted(p.name for p in a.iterdir()) == [".poolscope", "poolscope.yaml"]


def test_another_machine_sees_every_view_the_same(bucket_lake):
    s3, a, tmp = bucket_lake["s3"], bucket_lake["a"], bucket_lake["tmp"]
    b = tmp / "machine-b"
    b.mkdir()
    bucket_config(bucket_lake["sim"], b / "poolscope.yaml", s3, work="./work")
    done = run(["sql", "--config", "poolscope.yaml", "-c",
                "SELECT count(*) FROM snapshots; SELECT count(*) FROM pool_changes"], b, env_for(s3))
    assert done.returncode == 0, done.stderr
    assert (b / "work" / "inventory.duckdb").is_file()
    here = counts(a / ".poolscope" / s3.bucket / PREFIX / "inventory.duckdb")
    there = counts(b / "work" / "inventory.duckdb")
    assert here == there
    assert here["snapshots"] == 2 and here["pools"] == 24 and here["pool_changes"] > 0
    assert here["capacity_utilization"] > 0


def test_renormalize_on_another_machine_reads_the_raw_sets_from_the_bucket(bucket_lake):
    s3, a, tmp = bucket_lake["s3"], bucket_lake["a"], bucket_lake["tmp"]
    c = tmp / "machine-c"
    c.mkdir()
    bucket_config(bucket_lake["sim"], c / "poolscope.yaml", s3, work="./work")
    before = counts(a / ".poolscope" / s3.bucket / PREFIX / "inventory.duckdb")
    done = run(["renormalize", "--config", "poolscope.yaml", "--all"], c, env_for(s3))
    assert done.returncode == 0, done.stderr
    fetched = list((c / "work" / "lake" / "raw").glob("snapshot_id=*/*"))
    assert len(fetched) == 2, "both raw sets were fetched from the bucket"
    after = counts(c / "work" / "inventory.duckdb")
    assert after == before
    # machine A sees the renormalized writes (new write ids) with the same rows
    again = run(["sql", "--config", "poolscope.yaml", "-c", "SELECT 1"], a, env_for(s3))
    assert again.returncode == 0, again.stderr
    writes = DeltaTable(f"s3://{s3.bucket}/{PREFIX}/lake/snapshots", storage_options=s3.storage_options())
    assert writes.version() >= 3


def test_no_credential_reaches_a_file_an_object_or_an_output(bucket_lake):
    s3, a = bucket_lake["s3"], bucket_lake["a"]
    secrets = [s3.secret_key.encode(), SK.encode()]
    for data in objects(s3, PREFIX).values():
        assert not any(s in data for s in secrets)
    for path in a.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(s in data for s in secrets), path
    assert not any(s.decode() in out for out in bucket_lake["outputs"] for s in secrets)


def test_bad_bucket_settings_and_missing_credentials_are_clear_errors(tmp_path):
    with seaweed(tmp_path) as s3, run_simulator(SimulatorConfig(projects=1, pools_per_project=1, seed=1, ak=AK,
                                                                sk=SK)) as sim:
        config = bucket_config(sim, tmp_path / "poolscope.yaml", s3)
        missing = run(["snapshot", "--config", "poolscope.yaml"], tmp_path, cli_env(AK, SK))
        assert missing.returncode == 2
        assert "AWS_ACCESS_KEY_ID" in missing.stderr and "Traceback" not in missing.stderr
        wrong = run(["snapshot", "--config", "poolscope.yaml"], tmp_path,
                    cli_env(AK, SK, AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY="not-the-secret"))
        assert wrong.returncode == 2 and "storage.root: cannot read s3://" in wrong.stderr, wrong.stderr
        assert "not-the-secret" not in wrong.stderr and "Traceback" not in wrong.stderr
        assert not objects(s3, PREFIX), "nothing was written"
        far = bucket_config(sim, tmp_path / "far.yaml", s3, endpoint="http://192.0.2.10:9000")
        refused = run(["snapshot", "--config", "far.yaml"], tmp_path, env_for(s3))
        assert refused.returncode == 2
        assert "storage.s3.endpoint" in refused.stderr and "plain http" in refused.stderr
        local = tmp_path / "local.yaml"
        local.write_text(config.read_text().replace(f'  root: "s3://{s3.bucket}/{PREFIX}"', '  root: "./data"'))
        both = run(["snapshot", "--config", "local.yaml"], tmp_path, env_for(s3))
        assert both.returncode == 2 and "storage.s3: only for a lake in a bucket" in both.stderr


def test_reports_exported_on_a_new_machine_go_to_the_bucket(bucket_lake):
    s3, tmp = bucket_lake["s3"], bucket_lake["tmp"]
    e = tmp / "machine-e"
    e.mkdir()
    bucket_config(bucket_lake["sim"], e / "poolscope.yaml", s3, work="./work")
    done = run(["report", "--config", "poolscope.yaml", "--format", "xlsx,csv"], e, env_for(s3))
    assert done.returncode == 0, done.stderr
    local = {p.relative_to(e / "work" / "exports").as_posix(): p.read_bytes()
             for p in (e / "work" / "exports").rglob("*") if p.is_file()}
    assert any(name.endswith(".xlsx") for name in local) and any(name.endswith(".csv") for name in local)
    exported = {k.removeprefix("exports/"): v for k, v in objects(s3, PREFIX).items() if k.startswith("exports/")}
    assert exported == local
