"""`fetch.rate_limit: auto` through whole fetches: the pace and the 429s of each endpoint are recorded with the
snapshot (table snapshots, run.json), the next snapshot starts from the rate the previous one settled on, and
two runs sharing one access key both back off without failing a call."""

import json
import threading

import duckdb
import yaml

from lakekit import query_catalog
from pipeline.commands import pace_lines
from pipeline.config import load_config
from pipeline.flow import run_snapshot
from pipeline.land.fetch import read_rates
from pipeline.land.step import land, read_run
from pipeline.lake.layout import Layout
from pipeline.modelarts import AkSkCredentials
from pipeline.modelarts.adaptive import START_RPS
from pipeline.normalize.step import stage
from pipeline.simulator import Faults, SimulatorConfig, run_simulator

AK, SK = "AKRATELAND000000001", "rate-land-sk-0123456789abcdefghijklmnop"
CREDS = AkSkCredentials(AK, SK)
LISTING_ONLY = {"runtime_metrics": False}


def _config(sim, folder, **fetch):
    path = sim.write_config(folder / "poolscope.yaml", storage_root="./data")
    data = yaml.safe_load(path.read_text())
    data["collect"] = LISTING_ONLY
    data["fetch"] = {"project_names": False, **fetch}
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


def test_the_settled_rate_and_the_429s_are_recorded_and_start_the_next_snapshot(tmp_path):
    # 60 listings (+1 flavor call) from the default start of 100 req/s against a 20 req/s gateway: its burst of
    # 20 is spent before the calls are, so the controller meets 429s and measures the limit.
    limit = 20.0
    faults = Faults(rate_limit=limit, latency_ms=5)
    with run_simulator(SimulatorConfig(projects=60, pools_per_project=1, seed=3, ak=AK, sk=SK, faults=faults)) as sim:
        config = _config(sim, tmp_path)
        first = run_snapshot(config, credentials=CREDS, snapshot_at=sim.fleet.now)
        answered_429 = sum(r.status == 429 for r in sim.requests)
        catalog = Layout(config.root).catalog
        stored = read_rates(catalog)
        sim.advance(hours=1)
        second = run_snapshot(config, credentials=CREDS, snapshot_at=sim.fleet.now)
        url = sim.url
    assert first.status == second.status == "complete"
    (rate,) = first.rates
    assert rate["endpoint"] == url and rate["mode"] == "auto" and rate["start_rps"] == START_RPS
    assert rate["throttled"] == answered_429 > 0 and rate["cuts"] >= 1
    # Measured from windows of ~8 attempts: the estimate is good to about one attempt in 8.
    assert 0.6 * limit <= rate["settled_rps"] <= 1.2 * limit
    row = query_catalog(catalog, "SELECT throttled_attempts, rate_mode, settled_rps, endpoint_rates FROM snapshots "
                                 f"WHERE snapshot_id = '{first.snapshot_id}'")
    assert row == [[answered_429, "auto", rate["settled_rps"], json.dumps(first.rates)]]
    assert stored == {url: (rate["settled_rps"], True)}
    # The next snapshot starts where this one settled, not from the conservative default.
    (again,) = second.rates
    assert again["start_rps"] == rate["settled_rps"]
    assert pace_lines(first.rates) == [
        f"pace {url}: settled at {rate['settled_rps']:.0f} req/s (started at 100); 429s: {answered_429} "
        f"({100 * answered_429 / rate['attempts']:.1f}% of {rate['attempts']} attempts)"]


def test_a_fixed_rate_is_recorded_and_never_a_start(tmp_path):
    # Landed and normalized only (no Dagster run): the snapshots row, and a catalog view over it.
    with run_simulator(SimulatorConfig(projects=4, pools_per_project=1, seed=3, ak=AK, sk=SK)) as sim:
        config = _config(sim, tmp_path, rate_limit=100)
        snapshot_id, raw = land(config, CREDS)
    staged = stage(Layout(config.root), raw, snapshot_id)
    assert staged.rate_mode == "fixed" and staged.settled_rps == 100.0 and staged.throttled == 0
    catalog = tmp_path / "catalog.duckdb"
    con = duckdb.connect(str(catalog))
    con.execute(f"CREATE VIEW snapshots AS SELECT * FROM read_parquet('{staged.files['snapshots']}')")
    assert con.sql("SELECT rate_mode, settled_rps, throttled_attempts FROM snapshots").fetchall() == [
        ("fixed", 100.0, 0)]
    con.close()
    assert read_rates(catalog) == {}  # a fixed pace says nothing about the gateway


def test_two_fetches_sharing_an_access_key_both_back_off_and_fail_no_call(tmp_path):
    # Two runs (two lakes, one AK), each starting at 50 req/s, against one 30 req/s throttle. max_attempts 1:
    # a 429 that counted as an attempt would end its call in error.
    limit = 30.0
    faults = Faults(rate_limit=limit, latency_ms=5)
    with run_simulator(SimulatorConfig(projects=50, pools_per_project=1, seed=3, ak=AK, sk=SK, faults=faults)) as sim:
        configs = [_config(sim, tmp_path / name, max_attempts=1) for name in ("dagster", "cli")]
        raw_dirs: list = [None, None]
        errors: list = []

        def fetch(i: int) -> None:
            try:
                raw_dirs[i] = land(configs[i], CREDS)[1]
            except BaseException as exc:  # noqa: BLE001 -- reported below
                errors.append(exc)

        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    rates = []
    for raw in raw_dirs:
        outcomes = [json.loads(line)["outcome"] for line in (raw / "calls.jsonl").read_text().splitlines()]
        assert len(outcomes) > 50 and set(outcomes) == {"ok"}  # 50 listings and the flavor calls
        (rate,) = read_run(raw)["rates"]
        assert rate["throttled"] > 0 and rate["cuts"] >= 1  # both backed off
        rates.append(rate["settled_rps"])
    assert sum(rates) <= 1.3 * limit
