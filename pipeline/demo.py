"""`poolscope demo` and `poolscope dev`: the whole pipeline against the built-in simulator, no account needed.

The demo runs the simulator in-process, takes hourly snapshots on its simulated clock (so the history has
real changes in it: scaling, new and deleted pools, driver upgrades, billing changes) and prints what it made.
The simulated clock ends where the wall clock is: the N snapshots are those of the last N hours. Each snapshot
is a run of the Dagster snapshot job on the demo's Dagster instance (<out>/data/dagster).
`dev` opens the Dagster UI on that instance, with the simulated fleet served as it is at this hour (the
demo's last state, evolved by the hours since), so a Materialize adds the next snapshot, not fake churn.
"""

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb

from pipeline.config import load_config
from pipeline.exitcodes import HelpFormatter, epilog
from pipeline.sqlfiles import quote_ident
from pipeline.lake.layout import Layout
from pipeline.modelarts import AkSkCredentials, CredentialsError

DEMO_SEED = 2026
DEMO_PROJECTS = 8
DEMO_POOLS = 6
# The code location as the repo's workspace.yaml names it. `dev` writes it into DAGSTER_HOME: an installed wheel
# has no repo folder to find workspace.yaml in.
WORKSPACE = "load_from:\n  - python_module:\n      module_name: pipeline.definitions\n      location_name: poolscope\n"
EXAMPLE_QUERIES = [
    (
        "Nodes per state over the last 6 snapshots (physical pools: a sub-pool's nodes are its parent's)",
        "SELECT snapshot_id, state, sum(count) AS nodes FROM physical_capacity "
        "WHERE snapshot_id IN (SELECT snapshot_id FROM snapshots ORDER BY snapshot_id DESC LIMIT 6) "
        "GROUP BY ALL ORDER BY snapshot_id, state",
    ),
    (
        # Hourly snapshots, each holding one hour: the same totals as capacity_utilization's level 'all' rows
        # (the capacity_total sheet) while no hour is missed or carried.
        "Provisioned node-hours per UTC day (physical pools, each hourly snapshot holds one hour)",
        "SELECT timezone('UTC', snapshot_at)::DATE AS day, sum(count) AS node_hours FROM physical_capacity "
        "GROUP BY ALL ORDER BY day",
    ),
    (
        "Pools by billing mode in the latest snapshot (a Logical sub-pool bills through its parent)",
        "SELECT CASE WHEN is_physical THEN billing_mode ELSE 'via parent (Logical sub-pool)' END AS billing, "
        "count(*) AS pools, count(*) FILTER (WHERE auto_renew) AS auto_renew "
        "FROM pools WHERE snapshot_id = (SELECT max(snapshot_id) FROM snapshots) GROUP BY ALL ORDER BY pools DESC",
    ),
    (
        "Failed reads by error code, all snapshots (a ShowPool 404 ModelArts.50015001 confirms a deletion: "
        "an answer, not a failure)",
        "SELECT call, error_code, http_status, count(*) AS calls, max(attempts) AS max_attempts FROM fetches "
        "WHERE outcome = 'error' AND NOT (call = 'show_pool' AND http_status = 404 "
        "AND error_code IS NOT DISTINCT FROM 'ModelArts.50015001') GROUP BY ALL ORDER BY calls DESC",
    ),
]

# The one query the demo prints as a `poolscope sql -c` command line.
SQL_EXAMPLE = "SELECT region, count(*) AS pools FROM current_pools GROUP BY ALL ORDER BY region"

DEMO_CODES = {0: "done: the demo's snapshots, reports and catalog are in --out", 2: "usage error"}
DEV_CODES = {
    0: "stopped with Ctrl-C or SIGTERM",
    2: "usage error, or no demo in --out (run `make demo` first)",
}
# `dev` hands the terminal to Dagster: when `dg dev` ends on its own, its exit code is ours.
DEV_OTHER = "other  the exit code of the Dagster webserver (dg dev) when it stops by itself"


def add_parsers(sub) -> None:
    fmt = HelpFormatter
    d = sub.add_parser("demo", help="run the pipeline against the built-in simulator (48 hourly snapshots)",
                       epilog=epilog(DEMO_CODES), formatter_class=fmt)
    d.add_argument("--out", default="demo-data", help="folder for the config, lake and catalog (default demo-data)")
    d.add_argument("--snapshots", type=int, default=48, help="hourly snapshots to take (default 48)")
    d.add_argument("--projects", type=int, default=DEMO_PROJECTS,
                   help=f"simulated projects (default {DEMO_PROJECTS})")
    d.add_argument("--pools-per-project", type=int, default=DEMO_POOLS,
                   help=f"pools generated per project (default {DEMO_POOLS})")
    d.add_argument("--seed", type=int, default=DEMO_SEED,
                   help=f"seed of the generated fleet and its changes: the same seed, the same demo (default {DEMO_SEED})")
    d.add_argument("--start", type=_moment, metavar="TIME",
                   help="the first snapshot's time, UTC, e.g. 2026-11-01T00:00:00Z (default: so that the last "
                        "snapshot is the last whole hour)")
    # For tests: the simulator accepts, and the client signs with, HUAWEICLOUD_SDK_AK/SK instead of the demo
    # pair (a canary credential run through the whole demo). Hidden: a user's real keys have no business here.
    d.add_argument("--env-credentials", action="store_true", help=argparse.SUPPRESS)
    d.set_defaults(func=demo_command)

    v = sub.add_parser("dev", help="serve the demo's simulated fleet and open the Dagster UI on 127.0.0.1",
                       epilog=f"{epilog(DEV_CODES)}\n  {DEV_OTHER}", formatter_class=fmt)
    v.add_argument("--out", default="demo-data", help="the demo's folder (default demo-data)")
    v.add_argument("--port", type=int, default=3000, help="Dagster UI port (default 3000)")
    v.set_defaults(func=dev_command)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time (e.g. 2026-11-01T00:00:00Z): {text!r}") from None
    return moment.replace(tzinfo=moment.tzinfo or timezone.utc).astimezone(timezone.utc)


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def _simulator_config(args_or_meta: dict, port: int = 0, credentials: AkSkCredentials | None = None):
    from pipeline.simulator import Faults, SimulatorConfig

    # A little trouble, as in real life: one project the demo credential may not read, and rare 5xx that the
    # client retries. Failures are data: they show up in `fetches` and as partial snapshots.
    # A demo folder from an older version has no start: the simulator's default.
    start = {"start": datetime.fromisoformat(args_or_meta["start"])} if args_or_meta.get("start") else {}
    return SimulatorConfig(
        projects=args_or_meta["projects"], pools_per_project=args_or_meta["pools_per_project"],
        seed=args_or_meta["seed"], port=port, **start,
        ak=credentials.ak if credentials else None, sk=credentials.sk if credentials else None,
        faults=Faults(forbidden_projects=1, error_rate=0.03, seed=args_or_meta["seed"]),
    )


def demo_command(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipeline.simulator import run_simulator
    from pipeline.flow import run_snapshot

    try:
        env_credentials = AkSkCredentials.from_env() if args.env_credentials else None
    except CredentialsError as exc:
        print(f"poolscope: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = _hour(args.start) if args.start else _hour(datetime.now(timezone.utc)) - timedelta(hours=args.snapshots)
    meta = {"projects": args.projects, "pools_per_project": args.pools_per_project, "seed": args.seed,
            "start": start.isoformat(), "snapshots": args.snapshots}
    started = time.perf_counter()
    statuses: dict[str, int] = {}
    with run_simulator(_simulator_config(meta, credentials=env_credentials)) as sim:
        config_path = sim.write_config(out / "poolscope.yaml", storage_root="./data")
        with config_path.open("a", encoding="utf-8") as fh:
            # The report partitions start on the demo's first day: `make dev` shows the demo's days filled, not a
            # year of empty partitions before them.
            fh.write(f"reports:\n  start_date: {start.date().isoformat()}\n")
            # Every call family, so that the usage reports (allocation, measured utilization, idle capacity,
            # pressure) have data: a few dozen pools cost ~5 calls each per snapshot; the monitor's first
            # backfill is 2 days (the default 60 would land 1,440 points a call for nothing the demo shows).
            fh.write("collect:\n  runtime_metrics: true\n  pool_nodes: true\n  workload_statistics: true\n"
                     "  pool_events: true\n  pool_monitor: true\n  monitor_backfill_days: 2\n")
        meta["port"] = int(sim.url.rsplit(":", 1)[1])
        config = load_config(config_path)
        from pipeline.runner import dagster_home

        meta["dagster_home"] = str(dagster_home(config))  # where the runs below are recorded: `dev` opens it
        (out / "demo.json").write_text(json.dumps(meta, indent=1))
        credentials = env_credentials or AkSkCredentials(sim.ak, sim.sk)
        print(f"simulator: {sim.url} ({args.projects} projects, seed {args.seed}); config: {config_path}")
        with Progress(TextColumn("snapshots"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      disable=not sys.stderr.isatty()) as bar:
            task = bar.add_task("snapshots", total=args.snapshots)
            for _ in range(args.snapshots):
                result = run_snapshot(config, credentials=credentials, snapshot_at=sim.fleet.now)
                statuses[result.status] = statuses.get(result.status, 0) + 1
                sim.advance(hours=1)
                bar.advance(task)
    elapsed = time.perf_counter() - started
    layout = config.layout()
    print(f"\ntook {args.snapshots} hourly snapshots in {elapsed:.1f}s: "
          + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
    from pipeline.lake.compaction import compact_lake

    compacted = compact_lake(layout)  # what the daily compaction_job does: closed days, one file per table
    print(f"compacted {len(compacted.days)} closed day(s): {compacted.files_before} snapshot file(s) -> "
          f"{compacted.files_after} day file(s) (poolscope compact)")
    exported = _export(config, layout, out / "exports")
    _print_catalog(layout, config_path)
    print("\nReports (history, capacity, billing, subscriptions) for "
          f"{exported.from_day} .. {exported.to_day}:")
    for fmt, paths in exported.files.items():
        for p in paths:
            print(f"  {fmt:<5} {p}")
    return 0


def _export(config, layout: Layout, out: Path):
    from pipeline.reports.days import export, snapshot_days

    days = snapshot_days(layout)
    return export(config, days[0], days[-1], out_dir=out)


def _print_catalog(layout: Layout, config_path: Path) -> None:
    con = duckdb.connect(str(layout.catalog), read_only=True)
    try:
        views = [r[0] for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY view_name").fetchall()]
        print(f"\nDuckDB catalog: {layout.catalog}")
        print(f"lake (Parquet): {layout.lake}\n")
        print(f"{'table':<22}{'rows':>10}")
        for v in views:
            n = con.execute(f"SELECT count(*) FROM {quote_ident(v)}").fetchone()[0]
            print(f"{v:<22}{n:>10}")
        for title, sql in EXAMPLE_QUERIES:
            cur = con.execute(sql)
            cols = [d[0] for d in cur.description]
            rows = cur.fetchall()
            print(f"\n-- {title}\n{sql};")
            print("  " + " | ".join(cols))
            for row in rows[:12]:
                print("  " + " | ".join("" if v is None else str(v) for v in row))
            if len(rows) > 12:
                print(f"  ... {len(rows) - 12} more")
    finally:
        con.close()
    from pipeline.sqlshell import command_line

    # Commands runnable as printed, from this folder, on a machine with nothing but poolscope installed
    # (tests/test_demo.py runs every "  $ " line).
    shell = command_line(config_path)
    print("\nQuery it (read-only: the DuckDB shell with the tables listed; -c runs one query for scripts):")
    print(f"  $ {shell}")
    print(f"  $ {shell} -c {shlex.quote(SQL_EXAMPLE)}")
    print(f"  python: duckdb.connect({str(layout.catalog)!r}, read_only=True)   (DuckDB 1.4 or newer; README: "
          "\"Query it from your tools\")")
    print("Open Dagster:  make dev   (UI on http://127.0.0.1:3000, same simulated fleet, demo credentials)")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def dev_command(args: argparse.Namespace) -> int:
    from pipeline.simulator import run_simulator

    out = Path(args.out).resolve()
    config_path = out / "poolscope.yaml"
    try:
        meta = json.loads((out / "demo.json").read_text())
    except (OSError, ValueError):
        print(f"poolscope: no demo in {out}: run `make demo` first", file=sys.stderr)
        return 2
    from pipeline.runner import ensure_home

    home = ensure_home(Path(meta["dagster_home"]) if meta.get("dagster_home") else out / "dagster_home")
    with run_simulator(_simulator_config(meta, port=meta["port"])) as sim:
        # The fleet as it is now: the demo's last state, evolved by the hours since (never behind the demo).
        if meta.get("start"):
            since = (_hour(datetime.now(timezone.utc)) - datetime.fromisoformat(meta["start"])) // timedelta(hours=1)
            sim.advance(hours=max(int(meta.get("snapshots", 0)), since))
        env = dict(os.environ)
        # The simulator's pair, always: a user's real keys (if set) must not be sent to the simulator.
        for name in [k for k in env if k.startswith("HUAWEICLOUD_SDK_")]:
            del env[name]
        env["HUAWEICLOUD_SDK_AK"], env["HUAWEICLOUD_SDK_SK"] = sim.ak, sim.sk
        env["POOLSCOPE_CONFIG"] = str(config_path)
        env["DAGSTER_HOME"] = str(home)
        workspace = home / "workspace.yaml"
        workspace.write_text(WORKSPACE, encoding="utf-8")
        print(f"simulator on {sim.url}; Dagster UI on http://127.0.0.1:{args.port} (Ctrl-C stops both)")
        proc = subprocess.Popen(
            # `dg dev`: what Dagster 1.13 expects (`dagster dev` prints a SupersessionWarning).
            [str(Path(sys.executable).parent / "dg"), "dev", "--host", "127.0.0.1", "--port", str(args.port),
             "--workspace", str(workspace)],
            env=env, start_new_session=True,
        )
        # SIGTERM (a supervisor, `kill`) must stop Dagster too: it runs in its own session so that a Ctrl-C
        # reaches it once, through us.
        signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            return 0
