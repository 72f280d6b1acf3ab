"""Running poolscope's Dagster jobs in process, on the persistent Dagster instance.

`poolscope snapshot`, `renormalize` and `demo` do not sequence steps themselves: they run the code location's
jobs (pipeline/definitions.py) here, so every run, materialization and check result lands in the same instance
`poolscope dev` / `dagster dev` shows.

The instance lives in DAGSTER_HOME when that is set, else in `<storage root>/dagster`, created on first use with
a dagster.yaml that turns telemetry and the first-launch modal off. Dagster's own console log is kept at ERROR
for these runs: the CLI prints its own one-line outcome and progress bar, and the full event log is in the
instance.
"""

import json
import os
import shutil
from pathlib import Path

import dagster as dg

from pipeline.config import Config
from pipeline.flow import RunHooks, reset_hooks, set_hooks

INSTANCE_YAML = """\
# Written by poolscope (pipeline/runner.py) on first use; edit freely, it is not rewritten.
telemetry:
  enabled: false
nux:
  enabled: false
# Concurrency pools (pipeline/definitions.py: one per ModelArts API endpoint): one landing at a time per pool,
# so runs started together take turns at the gateway's throttle instead of failing on it; a waiting step shows as
# blocked on its pool in the UI. Raise a pool's limit with `dagster instance concurrency set <pool> <n>`.
concurrency:
  pools:
    default_limit: 1
    granularity: op
# One SQLite file for every run's events instead of one per run: a snapshot run writes ~150 events, and opening
# a per-run file for each cost ~0.8 s of a small snapshot's ~3 s. Both storages are Dagster's SQLite ones with
# their connections reused (pipeline/instance_storage.py): a new engine and connection per statement cost ~2 s
# of a snapshot with every call family on.
event_log_storage:
  module: pipeline.instance_storage
  class: PooledSqliteEventLogStorage
  config:
    base_dir: {events}
run_storage:
  module: pipeline.instance_storage
  class: PooledSqliteRunStorage
  config:
    base_dir: {events}
"""
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def dagster_home(config: Config) -> Path:
    """Where the instance lives: DAGSTER_HOME if set, else <storage root>/dagster."""
    env = os.environ.get("DAGSTER_HOME")
    return Path(env) if env else config.root / "dagster"


def ensure_home(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        tmp = home / f".dagster.yaml.{os.getpid()}.tmp"
        tmp.write_text(INSTANCE_YAML.format(events=json.dumps(str(home.resolve() / "history"))), encoding="utf-8")
        os.replace(tmp, settings)
    return home


FULL_BYTES = 1 << 20  # below this much free space, a failure to open the instance is taken for a full disk


def instance(config: Config) -> dg.DagsterInstance:
    """The persistent instance. On a full disk its SQLite storage fails in several ways ("disk I/O error",
    "database or disk is full"): that is StorageFullError, the run's one-line exit 4, before any work."""
    from pipeline.lake.space import StorageFullError

    home = dagster_home(config)
    try:
        return dg.DagsterInstance.from_config(str(ensure_home(home)))
    except Exception as exc:
        try:
            full = shutil.disk_usage(home if home.exists() else home.parent).free < FULL_BYTES
        except OSError:
            full = False
        if full:
            raise StorageFullError(f"storage {config.root}: no space left on device (the Dagster instance "
                                   f"{home}); nothing committed") from exc
        raise


STARTED_BY, STORAGE_ROOT = "poolscope/started_by", "poolscope/storage_root"
_UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def run_job(config: Config, job_name: str, *, tags: dict[str, str] | None = None, run_config: dict | None = None,
            hooks: RunHooks | None = None, partition_key: str | None = None) -> dg.ExecuteInProcessResult:
    """Run one job of the code location in process; a failing step re-raises its own exception. The caller holds
    the writer lock of the config's storage root (pipeline/flow.py), which lets it close the runs that a killed
    CLI left open first."""
    from pipeline.definitions import build_definitions

    defs = build_definitions(str(config.path), bind=True)
    job = defs.resolve_job_def(job_name)
    root = str(config.root.resolve())
    token = set_hooks(hooks)
    try:
        with instance(config) as inst:
            close_dead_runs(inst, root)
            for pool in sorted({op.pool for op in job.graph.iterate_op_defs() if op.pool}):
                ensure_pool(inst, pool)
            return job.execute_in_process(
                instance=inst, tags={STARTED_BY: "cli", STORAGE_ROOT: root, **(tags or {})},
                run_config={**QUIET, **(run_config or {})}, partition_key=partition_key)
    finally:
        reset_hooks(token)


def ensure_pool(inst: dg.DagsterInstance, pool: str) -> None:
    """Create a missing concurrency pool at the instance's default limit before the run that claims it starts.

    Dagster creates a pool on its first claim, inside the run. Two processes claiming a new pool at once both
    INSERT it; on PostgreSQL the loser's transaction is aborted by the duplicate key and Dagster goes on in it, so
    its run fails with InFailedSqlTransaction (dagster-io/dagster#33552, open): seen with two snapshots on two
    storage roots sharing a PostgreSQL instance (tests/test_postgres_instance.py). Here the loser is this call,
    before any run exists: its INSERT waited on the winner's, whose pool (row and slots, one transaction) is
    committed when it fails, and the run then finds the pool and creates nothing."""
    storage = inst.event_log_storage
    if not storage.supports_global_concurrency_limits or inst.global_op_concurrency_default_limit is None:
        return
    if any(limit.name == pool for limit in storage.get_pool_limits()):
        return
    try:
        storage.initialize_concurrency_limit_to_default(pool)
    except Exception:
        if not any(limit.name == pool for limit in storage.get_pool_limits()):
            raise


def close_dead_runs(inst: dg.DagsterInstance, root: str) -> list[str]:
    """Mark failed the CLI runs on this storage root that never finished, and free their concurrency slots.

    A CLI run holds its storage root's writer lock from start to end, so when the caller holds that lock, every
    unfinished CLI run of the root belongs to a process that is gone (kill -9, power loss), on whatever host.
    Without this, such a run shows as started for ever and keeps its slot of the API's concurrency pool, and the
    next landing waits on it (Dagster's daemon frees slots only of the runs it launched)."""
    runs = inst.get_runs(filters=dg.RunsFilter(statuses=_UNFINISHED, tags={STARTED_BY: "cli", STORAGE_ROOT: root}))
    for run in runs:
        inst.report_run_failed(run, "poolscope: the process running this CLI run ended before it finished "
                                    "(killed or crashed); its work is discarded by the next run's cleanup")
        inst.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return [r.run_id for r in runs]
