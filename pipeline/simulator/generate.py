"""Drawing a project's initial pools, for the fleet and for bulk benchmark data alike.

`generate_pools(n, seed)` yields exactly the documents a `Fleet` built from the same seed holds at its
start (same projects, same pools, same order), so benchmarks and the simulator exercise one generator.
"""

import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from pipeline.simulator.pools import PoolState, ProjectContext, draw_phase, new_logical, new_physical, render
from pipeline.simulator.projects import hex32, make_projects

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
            parent = parents[rng.randrange(len(parents))]
            phase = "Running" if rng.random() < 0.9 else "Creating"
            if phase == "Creating":
                created = start - timedelta(minutes=rng.randrange(1, 180))
            else:
                created = parent.created_at + (start - parent.created_at) * rng.random()
            child = new_logical(ctx, rng, parent, created, 0, phase)
            if child is not None:
                parent.subpools += 1
                pools.append(child)
                continue
        phase = draw_phase(rng)
        if phase in ("Creating", "Waiting"):
            created = start - timedelta(minutes=rng.randrange(1, 180))
        elif phase == "CreationFailed":
            created = start - timedelta(minutes=rng.randrange(60, 70 * 60))
        else:
            created = start - timedelta(minutes=rng.randrange(24 * 60, 700 * 24 * 60))
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
    """n pool documents spread over projects of `pools_per_project` pools each."""
    if n <= 0:
        return
    projects = -(-n // pools_per_project)
    infos = make_projects(seed, projects, domain_id_for(seed), regions)
    remaining = n
    for index, info in enumerate(infos):
        rng = project_rng(seed, index)
        ctx = ProjectContext.draw(info, DEFAULT_DOMAIN_NAME, rng)
        for pool in populate(ctx, rng, min(pools_per_project, remaining), start):
            yield render(pool)
        remaining -= pools_per_project


def generate_pools_jsonl(n: int, seed: int, **kwargs) -> Iterator[bytes]:
    """The same documents as newline-delimited JSON lines, ready to write to a file."""
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    for doc in generate_pools(n, seed, **kwargs):
        yield dumps(doc).encode() + b"\n"
