"""Drawing a project's initial pools, for the fleet and for bulk benchmark data alike.

`generate_pools(n, seed)` yields exactly the documents a `Fleet` built from the same seed holds at its
start (same projects, same pools, same order), so benchmarks and the simulator exercise one generator.
"""

import json
import multiprocessing
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from pipeline.simulator.pools import PoolState, ProjectContext, draw_phase, new_logical, new_physical, pick, ri
from pipeline.simulator.render import render
from pipeline.simulator.projects import check_regions, hex32, project_info

DEFAULT_START = datetime(2026, 11, 1, tzinfo=timezone.utc)
DEFAULT_DOMAIN_NAME = "poolscope-demo"
SUBPOOL_SHARE = 0.3
_PARENT_PHASES = ("Running", "Abnormal", "ScalingFailed")


def domain_id_for(seed: int) -> str:
    return hex32(random.Random(f"{seed}:domain"))


def project_rng(seed: int, index: int) -> random.Random:
    # Seeded by string: stable across processes (str seeds hash with SHA-512, not PYTHONHASHSEED).
    return random.Random(f"{seed}:pools:{index}")


def populate(ctx: ProjectContext, rng: random.Random, n: int, start: datetime) -> list[PoolState]:
    """n pools of one project as they stand at `start`: physical pools and logical sub-pools of them."""
    pools: list[PoolState] = []
    parents: list[PoolState] = []
    for _ in range(n):
        if parents and rng.random() < SUBPOOL_SHARE:
            parent = pick(rng, parents)
            phase = "Running" if rng.random() < 0.9 else "Creating"
            if phase == "Creating":
                created = start - timedelta(minutes=1 + ri(rng, 179))
            else:
                # Whole seconds, like every timestamp the service returns.
                created = (parent.created_at + (start - parent.created_at) * rng.random()).replace(microsecond=0)
            child = new_logical(ctx, rng, parent, created, 0, phase)
            if child is not None:
                parent.subpools += 1
                pools.append(child)
                continue
        phase = draw_phase(rng)
        if phase in ("Creating", "Waiting"):
            created = start - timedelta(minutes=1 + ri(rng, 179))
        elif phase == "CreationFailed":
            created = start - timedelta(minutes=60 + ri(rng, 69 * 60))
        else:
            created = start - timedelta(minutes=24 * 60 + ri(rng, 699 * 24 * 60))
        pool = new_physical(ctx, rng, created, phase, 0)
        pools.append(pool)
        if phase in _PARENT_PHASES:
            parents.append(pool)
    return pools


def generate_pools(
    n: int,
    seed: int,
    *,
    pools_per_project: int = 50,
    start: datetime = DEFAULT_START,
    regions: tuple[str, ...] | None = None,
) -> Iterator[dict]:
    """n pool documents spread over projects of `pools_per_project` pools each.

    About 33 us a document on one core (200,000 in ~6.5 s here): cheaper than json.loads of the same
    documents, and cheaper than unpickling them, which is why there is no multi-process variant of this
    one (there is for JSON lines, where bytes cross the process boundary).
    """
    for index in range(_project_count(n, pools_per_project)):
        yield from _project_docs(index, n, seed, pools_per_project, start, regions)


def generate_pools_jsonl(
    n: int,
    seed: int,
    *,
    pools_per_project: int = 50,
    start: datetime = DEFAULT_START,
    regions: tuple[str, ...] | None = None,
    processes: int = 1,
) -> Iterator[bytes]:
    """The same documents as JSON lines, one bytes chunk per project (whole lines), in project order.

    Projects are independent (each has its own RNG), so `processes > 1` spreads them over worker processes
    and still yields exactly the single-process bytes.
    """
    count = _project_count(n, pools_per_project)
    args = [(index, n, seed, pools_per_project, start, regions) for index in range(count)]
    if processes <= 1 or count < 2:
        yield from (_project_jsonl(a) for a in args)
        return
    yield from _parallel(_project_jsonl, args, processes)


def _parallel(func, args: list[tuple], processes: int) -> Iterator[bytes]:
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        yield from pool.imap(func, args, chunksize=max(1, min(64, len(args) // (processes * 8))))


def _project_count(n: int, pools_per_project: int) -> int:
    if pools_per_project < 1:
        raise ValueError("pools_per_project must be >= 1")
    return max(0, -(-n // pools_per_project))


def _project_docs(index: int, n: int, seed: int, per_project: int, start: datetime,
                  regions: tuple[str, ...] | None) -> Iterator[dict]:
    info = project_info(seed, index, domain_id_for(seed), check_regions(regions))
    rng = project_rng(seed, index)
    ctx = ProjectContext.draw(info, DEFAULT_DOMAIN_NAME, rng)
    for pool in populate(ctx, rng, min(per_project, n - index * per_project), start):
        yield render(pool)


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _project_jsonl(args: tuple) -> bytes:
    return "".join(_ENCODE(doc) + "\n" for doc in _project_docs(*args)).encode("utf-8")
