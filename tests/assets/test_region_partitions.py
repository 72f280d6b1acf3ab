"""Region partitions (schedule.partition_by: region): the snapshot assets get a partition per region of the config,
the schedule asks for a run per region at one snapshot time, each tagged with its endpoint (the run queue's key),
and the catalog sensor asks for the history/reports/catalog run once per snapshot, when every region has
committed (or the wait ran out). `poolscope snapshot` runs the same jobs in process: its snapshot shows as one row
made of its regions' parts, with the same rows as a snapshot taken whole; `--region` takes one region's part and
leaves the others'."""

import subprocess
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from clikit import POOLSCOPE, cli_env
from lakekit import query_catalog
from pipeline.assets.schedules import CATALOG_WAIT, ENDPOINT_TAG, catalog_due, region_endpoints
from pipeline.config import ConfigError, load_config
from pipeline.definitions import build_definitions
from pipeline.lake.store import Manifest, read_manifests
from pipeline.simulator import SimulatorConfig, run_simulator

AK, SK = "AKREGIONPART00000001", "region-partitions-sk-0123456789abcdefghi"
AT = datetime(2026, 12, 6, 5, tzinfo=timezone.utc)


def partitioned(sim, path, *, split_hosts: bool = False):
    """The simulator's config with region partitions; `split_hosts`: the first region's targets reach the same
    simulator by another host name (localhost), so that it has an endpoint (a run queue) of its own."""
    config = sim.write_config(path)
    text = config.read_text() + "schedule:\n  partition_by: region\n"
    if split_hosts:
        first = min(p.region for p in sim.fleet.projects)
        lines, region = [], None
        for line in text.splitlines():
            if line.startswith("  - region: "):
                region = line.split(": ", 1)[1]
            if line.startswith("    endpoint: ") and region == first:
                line = line.replace("127.0.0.1", "localhost")
            lines.append(line)
        text = "\n".join(lines) + "\n"
    config.write_text(text)
    return config


def test_definitions_schedule_and_sensor(tmp_path):
    with run_simulator(SimulatorConfig(projects=6, pools_per_project=2, seed=3, ak=AK, sk=SK)) as sim:
        path = partitioned(sim, tmp_path / "poolscope.yaml", split_hosts=True)
        config = load_config(path)
        regions = config.regions()
        assert len(regions) >= 2
        defs = build_definitions(str(path))
        graph = defs.resolve_asset_graph()
        for key in ("raw_snapshot", "pools", "snapshots"):
            part = graph.get(dg.AssetKey(key)).partitions_def
            assert isinstance(part, dg.StaticPartitionsDefinition) and part.get_partition_keys() == regions
        for key in ("pool_changes", "inventory_catalog"):
            assert graph.get(dg.AssetKey(key)).partitions_def is None  # once per snapshot, all regions
        for job in ("region_snapshot_job", "catalog_job", "snapshot_job"):
            defs.resolve_job_def(job)
        raw = next(a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.key == dg.AssetKey("raw_snapshot"))
        assert [op.pool for op in raw.node_def.iterate_op_defs()] == [None]  # queued per endpoint by run tag

        schedule = defs.resolve_schedule_def("snapshot_schedule")
        assert schedule.job_name == "region_snapshot_job"
        with dg.build_schedule_context(scheduled_execution_time=AT, repository_def=defs.get_repository_def()) as context:
            requests = list(schedule.evaluate_tick(context).run_requests)
        assert sorted(r.partition_key for r in requests) == regions
        assert {r.tags["poolscope/snapshot_at"] for r in requests} == {AT.isoformat()}
        hosts = {r.partition_key: r.tags[ENDPOINT_TAG] for r in requests}
        assert hosts == region_endpoints(config)
        assert hosts[regions[0]].startswith("localhost:") and hosts[regions[1]].startswith("127.0.0.1:")
        assert len({r.run_key for r in requests}) == len(regions)
        assert defs.resolve_sensor_def("snapshot_catalog_sensor").job_name == "catalog_job"

        with pytest.raises(ConfigError, match="no target or discover region is 'xx-nowhere-1'"):
            config.for_region("xx-nowhere-1")


def _manifest(sid: str, regions: list[str]) -> Manifest:
    at = datetime.strptime(sid, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).isoformat()
    return Manifest(snapshot_id=sid, write_id="+".join(f"w{i}" for i in range(len(regions))), snapshot_at=at,
                    status="complete", raw_dir="", tables={}, committed_at=at,
                    parts={r: (f"w{i}", "") for i, r in enumerate(regions)})


def test_the_catalog_is_due_once_per_snapshot_when_every_region_is_in(tmp_path):
    with run_simulator(SimulatorConfig(projects=6, pools_per_project=1, seed=3, ak=AK, sk=SK)) as sim:
        config = load_config(partitioned(sim, tmp_path / "poolscope.yaml"))
    regions = config.regions()
    sid = "20261206T050000Z"
    assert catalog_due(config, [], None, AT) is None
    assert catalog_due(config, [_manifest(sid, regions[:1])], None, AT + timedelta(minutes=5)) is None
    assert catalog_due(config, [_manifest(sid, regions[:1])], None, AT + CATALOG_WAIT) == sid  # waited enough
    assert catalog_due(config, [_manifest(sid, regions)], None, AT + timedelta(minutes=5)) == sid
    assert catalog_due(config, [_manifest(sid, regions)], sid, AT + timedelta(minutes=5)) is None  # done already
    whole = Manifest(snapshot_id=sid, write_id="w", snapshot_at=AT.isoformat(), status="complete", raw_dir="",
                     tables={}, committed_at="")
    assert catalog_due(config, [whole], "20261206T040000Z", AT) == sid  # a whole write read every region


def test_the_cli_takes_a_snapshot_region_by_region_and_one_region_again(tmp_path):
    with run_simulator(SimulatorConfig(projects=6, pools_per_project=3, seed=8, ak=AK, sk=SK)) as sim:
        whole_dir, parts_dir = tmp_path / "whole", tmp_path / "parts"
        whole_dir.mkdir()
        parts_dir.mkdir()
        sim.write_config(whole_dir / "poolscope.yaml")
        partitioned(sim, parts_dir / "poolscope.yaml")
        env = cli_env(AK, SK)
        for folder in (whole_dir, parts_dir):
            done = subprocess.run([*POOLSCOPE, "snapshot", "--config", "poolscope.yaml", "--no-progress"],
                                  cwd=folder, env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr
        config = load_config(parts_dir / "poolscope.yaml")
        regions = config.regions()
        (manifest,) = read_manifests(config.layout())
        assert sorted(manifest.parts) == regions and len(set(w for w, _ in manifest.parts.values())) == len(regions)
        tables = ("pools", "pool_capacity", "pool_labels", "fetches", "flavors")

        def rows(folder):
            db = folder / "data" / "inventory.duckdb"
            return {t: query_catalog(db, f"SELECT count(*) FROM {t}")[0][0] for t in tables} | {
                "snapshots": query_catalog(db, "SELECT count(*), any_value(region), any_value(status), "
                                               "any_value(targets), any_value(pools) FROM snapshots")[0]}

        assert rows(parts_dir) == rows(whole_dir)  # the parts add up to the snapshot taken whole
        assert query_catalog(parts_dir / "data" / "inventory.duckdb",
                             "SELECT count(*) FROM pool_changes WHERE change_type = 'deleted'") == [[0]]
        # One region again, at a new snapshot time: that region's part, alone, and nothing else moves.
        again = subprocess.run([*POOLSCOPE, "snapshot", "--config", "poolscope.yaml", "--no-progress", "--region",
                                regions[-1]], cwd=parts_dir, env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        latest = read_manifests(config.layout())[-1]
        assert list(latest.parts) == [regions[-1]]
        # Without region partitions too: one run of the snapshot job, for that region's part.
        alone = subprocess.run([*POOLSCOPE, "snapshot", "--config", "poolscope.yaml", "--no-progress", "--region",
                                regions[0]], cwd=whole_dir, env=env, capture_output=True, text=True, timeout=300)
        assert alone.returncode == 0, alone.stderr
        assert list(read_manifests(load_config(whole_dir / "poolscope.yaml").layout())[-1].parts) == [regions[0]]
        nowhere = subprocess.run([*POOLSCOPE, "snapshot", "--config", "poolscope.yaml", "--region", "xx-nowhere-1"],
                                 cwd=parts_dir, env=env, capture_output=True, text=True, timeout=300)
        assert nowhere.returncode == 2 and "no target or discover region is 'xx-nowhere-1'" in nowhere.stderr
