"""`poolscope simulator`: serve the simulated ModelArts + IAM API until Ctrl-C or SIGTERM."""

import argparse
import os
import signal
import sys
import threading
from datetime import datetime, timezone

from pipeline.exitcodes import HelpFormatter, epilog
from pipeline.modelarts.credentials import mask_ak
from pipeline.simulator.faults import Faults
from pipeline.simulator.generate import DEFAULT_START
from pipeline.simulator.runner import DEMO_AK, DEMO_SK, Simulator, SimulatorConfig

ENV_AK = "HUAWEICLOUD_SDK_AK"
ENV_SK = "HUAWEICLOUD_SDK_SK"
SIMULATOR_CODES = {
    0: "stopped with Ctrl-C or SIGTERM",
    1: "cannot start: the port is taken, or a value of --user, --throttle-burst or a fault option is invalid",
    2: "usage error",
}


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "simulator",
        help="run a local simulator of the ModelArts pool API",
        description=(
            "Serve a simulated ModelArts pool API and IAM on 127.0.0.1. The accepted AK/SK come from "
            f"{ENV_AK}/{ENV_SK} when both are set, else a printed demo pair. Control endpoints (loopback, "
            "unauthenticated): POST /_simulator/advance?hours=H, POST /_simulator/inject?kind=K&count=N, "
            "POST /_simulator/throttle?rate_limit=R, "
            "GET /_simulator/state."
        ),
        epilog=epilog(SIMULATOR_CODES),
        formatter_class=HelpFormatter,
    )
    p.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one (default)")
    p.add_argument("--projects", type=int, default=3, help="number of IAM projects (default 3)")
    p.add_argument("--pools-per-project", type=int, default=5, help="initial pools per project (default 5)")
    p.add_argument("--seed", type=int, default=7, help="seed of the fleet and of fault decisions (default 7)")
    p.add_argument("--regions", help="comma-separated region ids to spread projects over")
    p.add_argument("--config-out", metavar="FILE", help="write a poolscope.yaml targeting every project")
    p.add_argument("--storage-root", default="./data", help="storage.root written by --config-out")
    p.add_argument("--start", metavar="TIME", default=None,
                   help="the fleet's clock at start: an ISO 8601 UTC time, or 'now' (this hour), so that "
                        "snapshots dated now get monitor points and events up to now (default "
                        f"{DEFAULT_START.isoformat()}, reproducible)")
    p.add_argument("--advance-every", type=float, default=0.0, metavar="SECONDS",
                   help="advance the simulated clock by one hour every SECONDS of wall time (0: never)")
    p.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD:DOMAIN",
                   help="an IAM user that may get tokens from POST /v3/auth/tokens (repeatable)")
    p.add_argument("--token-ttl", type=float, default=86400.0, help="token lifetime in seconds")
    faults = p.add_argument_group("faults (all off by default)")
    faults.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every answer")
    faults.add_argument("--jitter-ms", type=float, default=0.0, help="uniform +- jitter around the latency")
    faults.add_argument("--rate-limit", type=float, default=0.0, help="requests/s per credential, then 429")
    faults.add_argument("--retry-after", type=float, default=None, help="Retry-After seconds on 429s")
    faults.add_argument("--fault-rate", type=float, default=0.0, help="share of requests answered 500/502/503")
    faults.add_argument("--stall-rate", type=float, default=0.0, help="share of requests held --stall-s first")
    faults.add_argument("--stall-s", type=float, default=30.0, help="how long a stalled request is held")
    faults.add_argument("--reset-rate", type=float, default=0.0, help="share of connections reset unanswered")
    faults.add_argument("--truncate-rate", type=float, default=0.0, help="share of 200s with a cut body")
    faults.add_argument("--forbidden-projects", type=int, default=0, help="last N projects always answer 403")
    faults.add_argument("--listing-glitch-rate", type=float, default=0.0,
                        help="share of pool listings that leave out pools which still exist (empty or half)")
    faults.add_argument("--throttle-burst", metavar="PERIOD:LENGTH",
                        help="of every PERIOD requests, the first LENGTH are answered 429")
    p.set_defaults(func=run)
    return p


def _users(specs: list[str]) -> list[tuple[str, str, str]]:
    users = []
    for spec in specs:
        parts = spec.split(":", 2)
        if len(parts) != 3 or not all(parts):
            raise SystemExit("--user takes NAME:PASSWORD:DOMAIN")
        users.append((parts[0], parts[1], parts[2]))
    return users


def _burst(spec: str | None) -> tuple[int, int] | None:
    if not spec:
        return None
    try:
        period, length = (int(x) for x in spec.split(":"))
    except ValueError:
        raise SystemExit("--throttle-burst takes PERIOD:LENGTH, e.g. 100:10") from None
    return period, length


def _start(spec: str | None) -> datetime:
    if not spec:
        return DEFAULT_START
    if spec == "now":
        return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    try:
        at = datetime.fromisoformat(spec.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(f"--start takes an ISO 8601 time or 'now', not {spec!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def config_from_args(args: argparse.Namespace) -> tuple[SimulatorConfig, bool]:
    """The simulator config, and whether the credential is the demo pair (only that one may be printed)."""
    ak, sk = os.environ.get(ENV_AK), os.environ.get(ENV_SK)
    demo = not (ak and sk)
    try:
        faults = Faults(
            latency_ms=args.latency_ms, jitter_ms=args.jitter_ms, rate_limit=args.rate_limit,
            retry_after_s=args.retry_after, error_rate=args.fault_rate, stall_rate=args.stall_rate,
            stall_s=args.stall_s, reset_rate=args.reset_rate, truncate_rate=args.truncate_rate,
            forbidden_projects=args.forbidden_projects, throttle_burst=_burst(args.throttle_burst),
            listing_glitch_rate=args.listing_glitch_rate,
        )
    except ValueError as e:
        raise SystemExit(f"simulator: {e}") from None
    config = SimulatorConfig(
        projects=args.projects, pools_per_project=args.pools_per_project, seed=args.seed, faults=faults,
        ak=None if demo else ak, sk=None if demo else sk, users=_users(args.user), token_ttl_s=args.token_ttl,
        regions=tuple(r.strip() for r in args.regions.split(",") if r.strip()) if args.regions else None,
        port=args.port, start=_start(args.start),
    )
    return config, demo


def run(args: argparse.Namespace) -> int:
    config, demo = config_from_args(args)
    try:
        sim = Simulator(config).start()
    except (OSError, ValueError) as e:
        print(f"simulator: cannot start: {e}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(signum, lambda *_: stop.set())
        except ValueError:  # not the main thread: Ctrl-C still raises KeyboardInterrupt below
            pass
    try:
        print(f"ModelArts + IAM simulator listening on {sim.url}", flush=True)
        if demo:
            print(f"accepting the demo credential: {ENV_AK}={DEMO_AK} {ENV_SK}={DEMO_SK}")
        else:
            # The user's own key: shown masked, as everywhere else (terminals get scrolled back and logged).
            print(f"accepting AK {mask_ak(sim.ak)} from {ENV_AK} (SK from {ENV_SK}, not shown)")
        for p in sim.projects:
            flag = "  (403 forbidden)" if p.forbidden else ""
            print(f"  {p.region:<16} {p.name:<24} {p.id}  {len(sim.fleet.pools(p.id))} pools{flag}")
        if args.config_out:
            path = sim.write_config(args.config_out, storage_root=args.storage_root)
            print(f"wrote {path}")
        print("Ctrl-C to stop", flush=True)
        while not stop.wait(args.advance_every if args.advance_every > 0 else 3600):
            if args.advance_every > 0:
                sim.advance(1)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    print("simulator stopped", flush=True)
    return 0
