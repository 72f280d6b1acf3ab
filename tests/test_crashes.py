"""kill -9 at 16 moments (2 per phase) spread over every phase of a snapshot (pipeline/flow.py's steps, run as the Dagster
snapshot job) and of a compaction.

Each victim is the real CLI (a subprocess) against the simulator over HTTP. A watcher polls the storage for
the marker a phase leaves (its work folder, the sealed raw set, a new table data file, the catalog being
written, a compaction's new file) and kills the process a random few milliseconds after the marker appears.
After every kill, from another process: the catalog opens; every snapshot it shows has its snapshots row and
exactly the rows that row's commit recorded, table by table (no partial snapshot is visible); every file the
Delta logs name exists. At the end a normal run succeeds, removes the debris, and the catalog shows every
committed snapshot.

Both storages: the local disk, and a bucket on a real S3 server (SeaweedFS; the work folder is then the local
side: raw landing before upload, catalog, local copies). On the bucket a kill also lands during the raw set's
upload and during the Delta commits to S3.
"""

import json
import os
import random
import signal
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from clikit import POOLSCOPE, cli_env
from lakekit import query_catalog
from pipeline.config import load_config
from pipeline.lake.layout import Layout
from pipeline.lake.store import collect_garbage, read_manifests, writer_lock
from pipeline.simulator import Faults, SimulatorConfig, run_simulator

AK, SK = "AKCRASHTEST000000001", "crash-test-sk-0123456789abcdefghijklmno"
SEED = 20261128
TABLES = ("snapshots", "fetches", "pools", "pool_labels", "pool_resources", "pool_capacity", "flavors")


def env() -> dict:
    return cli_env(AK, SK)  # with the bucket's credentials when a bucket test put them in the environment


@pytest.fixture
def storage():
    """How a test's config keeps its lake: a function that rewrites the simulator's config for it. Here the
    local disk; tests/test_crashes_bucket.py runs these tests again with the lake in a bucket."""
    def local(config: Path) -> Path:
        return config
    return local


def layout_of(config: Path) -> Layout:
    return load_config(config).layout()


def table_files(layout: Layout, table: str) -> set[str]:
    """The data files under a table's folder, committed or not (local paths, or bucket keys)."""
    if not layout.in_bucket:
        folder = layout.lake / table
        return {str(p) for p in folder.glob("snapshot_day=*/*.parquet")} if folder.is_dir() else set()
    from pyarrow.fs import FileSelector, FileType

    infos = layout.storage.filesystem().get_file_info(
        FileSelector(layout.storage.fs_path("lake", table), recursive=True, allow_not_found=True))
    return {i.path for i in infos if i.type == FileType.File and i.path.endswith(".parquet") and "/_delta_log/" not in i.path}


def phase_markers(layout: Layout, known_raw: set[str], known_files: set[str]) -> dict:
    """phase -> a function telling whether the phase is under way now."""
    def glob_any(folder: Path, pattern: str) -> bool:
        return folder.is_dir() and any(folder.glob(pattern))

    def new_raw() -> bool:
        return layout.raw.is_dir() and any(p.name not in known_raw for p in layout.raw.iterdir())

    def new_table_file() -> bool:
        return bool(table_files(layout, "pools") - known_files)

    return {
        "fetching": lambda: glob_any(layout.tmp, "raw-*"),
        "landed": new_raw,
        "normalizing": lambda: glob_any(layout.tmp, "tables-*"),
        "committing": new_table_file,
        "history": lambda: glob_any(layout.tmp, "history-*"),
        "reports": lambda: glob_any(layout.tmp, "reports-*"),
        "catalog": lambda: glob_any(layout.root, ".inventory.*.tmp"),
        "compacting": new_table_file,
    }


def active_files(layout: Layout) -> set[str]:
    """Every data file a table's current version names (local paths, or bucket keys)."""
    lake = layout.tables()
    if not layout.in_bucket:
        return {f for table in lake.tables() for f in lake.files(table)}
    return {f"{layout.storage.fs_path('lake', table)}/{path}" for table in lake.tables()
            for path in lake.open(table).get_add_actions(flatten=True).column("path").to_pylist()}


def exists(layout: Layout, file: str) -> bool:
    if not layout.in_bucket:
        return Path(file).is_file()
    from pyarrow.fs import FileType

    return layout.storage.filesystem().get_file_info(file).type == FileType.File


def kill_at(args: list[str], cwd: Path, marker, rng: random.Random, jitter_s: float) -> tuple[bool, float]:
    """Start the CLI, wait for `marker()`, sleep a random moment, SIGKILL. Returns (killed, seconds in)."""
    started = time.monotonic()
    victim = subprocess.Popen([*POOLSCOPE, *args], cwd=cwd, env=env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        while victim.poll() is None and time.monotonic() - started < 60:
            if marker():
                time.sleep(rng.uniform(0, jitter_s))
                if victim.poll() is None:
                    victim.send_signal(signal.SIGKILL)
                    victim.wait(10)
                    return True, time.monotonic() - started
                break
            time.sleep(0.0005)
        victim.wait(60)
        return False, time.monotonic() - started
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(10)


def check_consistent(layout: Layout, tables: tuple[str, ...] = TABLES) -> set[str]:
    """What a reader sees matches the commit records. Returns the snapshot ids the catalog shows."""
    manifests = {m.snapshot_id: m for m in read_manifests(layout)}
    for f in active_files(layout):
        assert exists(layout, f), f"a table's log names a missing file: {f}"
    if not layout.catalog.exists():
        return set()
    sql = " UNION ALL ".join(f"SELECT '{t}' AS t, snapshot_id, count(*) AS n FROM {t} GROUP BY ALL" for t in tables)
    seen = query_catalog(layout.catalog, sql)
    visible = set()
    for table, sid, n in seen:
        assert sid in manifests, f"the catalog shows {sid}, which has no snapshots row"
        assert n == manifests[sid].tables[table]["rows"], (table, sid, n, manifests[sid].tables[table]["rows"])
        visible.add(sid)
    for sid in visible:  # every table of a visible snapshot is visible (an empty table has no group above)
        for table in tables:
            rows = manifests[sid].tables[table]["rows"]
            if rows:
                assert any(t == table and s == sid for t, s, _ in seen), (sid, table)
    return visible


def test_kill_9_at_16_moments_never_shows_a_partial_snapshot(tmp_path, storage):
    # `make soak` raises the count (POOLSCOPE_SOAK_KILLS) and varies the seed; `make test` runs 16 on the local
    # disk, and one per phase on the bucket (each run there takes about twice as long).
    target = int(os.environ.get("POOLSCOPE_SOAK_KILLS", "16" if storage.__name__ == "local" else "8"))
    seed = int(os.environ.get("POOLSCOPE_SOAK_SEED", str(SEED)))
    rng = random.Random(seed)
    faults = Faults(latency_ms=40, jitter_ms=30, seed=seed)
    phases = ["fetching", "landed", "normalizing", "committing", "history", "reports", "catalog", "compacting"]
    jitter = {"fetching": 0.4, "landed": 0.01, "normalizing": 0.15, "committing": 0.005, "history": 0.05,
              "reports": 0.1, "catalog": 0.05, "compacting": 0.08}
    kills: dict[str, int] = {p: 0 for p in phases}
    misses = 0
    with run_simulator(SimulatorConfig(projects=16, pools_per_project=25, seed=9, ak=AK, sk=SK,
                                       faults=faults)) as sim:
        layout = layout_of(storage(sim.write_config(tmp_path / "poolscope.yaml")))
        snapshot = ["snapshot", "--config", "poolscope.yaml"]
        compact = ["compact", "--config", "poolscope.yaml", "--include-latest"]
        for _ in range(2):
            assert subprocess.run([*POOLSCOPE, *snapshot], cwd=tmp_path, env=env(), capture_output=True).returncode == 0
            time.sleep(1.0)  # snapshot ids are whole seconds
        n = 0
        while sum(kills.values()) < target:
            # The phase with the fewest kills so far (a missed one is tried again), so every phase gets its share.
            phase = min(phases, key=lambda p: (kills[p], phases.index(p)))
            n += 1
            known_raw = {p.name for p in layout.raw.iterdir()}
            known_files = table_files(layout, "pools")
            marker = phase_markers(layout, known_raw, known_files)[phase]
            killed, _ = kill_at(compact if phase == "compacting" else snapshot, tmp_path, marker, rng,
                                jitter[phase])
            if killed:
                kills[phase] += 1
            else:
                misses += 1  # the phase was over before the watcher saw it: try again
                assert misses < 2 * target, f"could not hit the phases; kills so far {kills}"
            check_consistent(layout)
            if n % 4 == 0:  # now and then a run that completes, on top of the debris
                time.sleep(1.0)
                done = subprocess.run([*POOLSCOPE, *snapshot], cwd=tmp_path, env=env(), capture_output=True, text=True)
                assert done.returncode == 0, done.stderr
                check_consistent(layout)
        assert all(kills[p] >= target // len(phases) for p in phases), kills
        time.sleep(1.0)
        last = subprocess.run([*POOLSCOPE, *snapshot], cwd=tmp_path, env=env(), capture_output=True, text=True)
        assert last.returncode == 0, last.stderr
    visible = check_consistent(layout)
    assert visible == {m.snapshot_id for m in read_manifests(layout)}  # after a good run, every commit is shown
    assert not list(layout.tmp.iterdir()), "the debris of killed runs is removed by the next run"
    with writer_lock(layout):
        collect_garbage(layout, grace_s=0)  # what the next runs do once the grace period has passed
    on_disk = set().union(*(table_files(layout, t) for t in layout.tables().tables()))
    assert on_disk == active_files(layout), "only committed files remain"
    assert check_consistent(layout) == visible
    print(json.dumps({"seed": seed, "kills": kills, "misses": misses, "snapshots": len(visible)}))


# The per-pool families: their answers land as lines of packs in the working raw set, and fill tables of their
# own. pool_metrics and pool_events are left out of the row check: the catalog keeps one row per point or event
# across snapshots (the latest snapshot's), so a snapshot shows fewer rows there than its manifest records.
FAMILY_TABLES = (*TABLES, "nodes", "node_resources", "workload_statistics", "pool_allocation")
FAMILIES = ("collect:\n  pool_nodes: true\n  pool_monitor: true\n  monitor_backfill_days: 1\n"
            "  workload_statistics: true\n  pool_events: true\n")


def test_kill_9_while_per_pool_answers_land_and_normalize(tmp_path, storage):
    rng = random.Random(SEED + 1)
    phases = ["packing", "normalizing", "committing"]
    kills = {p: 0 for p in phases}
    misses = 0
    # The fleet's clock at this hour: the snapshots (dated now) then ask for monitor points the fleet has
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    with run_simulator(SimulatorConfig(projects=3, pools_per_project=6, seed=9, ak=AK, sk=SK, start=now,
                                       faults=Faults(latency_ms=20, jitter_ms=20, seed=SEED))) as sim:
        config = storage(sim.write_config(tmp_path / "poolscope.yaml"))
        config.write_text(config.read_text() + FAMILIES)
        layout = layout_of(config)
        snapshot = ["snapshot", "--config", "poolscope.yaml"]
        first = subprocess.run([*POOLSCOPE, *snapshot], cwd=tmp_path, env=env(), capture_output=True, text=True)
        assert first.returncode == 0, first.stderr
        assert check_consistent(layout, FAMILY_TABLES)
        assert query_catalog(layout.catalog, "SELECT count(*) > 0 FROM pool_metrics") == [[True]]
        while min(kills.values()) < 1:
            phase = min(phases, key=lambda p: (kills[p], phases.index(p)))
            time.sleep(1.0)  # snapshot ids are whole seconds
            known = table_files(layout, "nodes")
            marker = {
                "packing": lambda: any(layout.tmp.glob("raw-*/bodies/*.pack")),
                "normalizing": lambda: any(layout.tmp.glob("tables-*")),
                "committing": lambda: bool(table_files(layout, "nodes") - known),
            }[phase]
            killed, _ = kill_at(snapshot, tmp_path, marker, rng, {"packing": 0.2, "normalizing": 0.1,
                                                                   "committing": 0.005}[phase])
            if killed:
                kills[phase] += 1
            else:
                misses += 1
                assert misses < 9, f"could not hit the phases; kills so far {kills}"
            check_consistent(layout, FAMILY_TABLES)
        time.sleep(1.0)
        last = subprocess.run([*POOLSCOPE, *snapshot], cwd=tmp_path, env=env(), capture_output=True, text=True)
        assert last.returncode == 0, last.stderr
    visible = check_consistent(layout, FAMILY_TABLES)
    assert visible == {m.snapshot_id for m in read_manifests(layout)}
    assert not list(layout.tmp.iterdir()), "the debris of killed runs is removed by the next run"
    # Each point once in the catalog, whatever the kills left behind
    assert query_catalog(layout.catalog, "SELECT count(*) FROM (SELECT pool_id, metric, statistic, measured_at "
                                         "FROM pool_metrics GROUP BY ALL HAVING count(*) > 1)") == [[0]]
