"""ShowWorkloadStatistics (GET /v2/{project_id}/statistics/pools/{pool_name}/workloads): workloads of a pool
per type and status, consistent with ShowPoolRuntimeMetrics at the same fleet time (utilization reference
section 5).

`Running` per type is runtime.py's running (allocated) count and `Queue` its queued count; the other statuses
(Completed, Failed, Pending, ...) are small counts drawn from the seed, the pool and the hour. Most pools answer
with the SDK's shape (root `statistics`, integer counts); a fixed subset of pools answers with the shape the
docs' table gives (root `statics`, counts as strings), which the SDK cannot read.
"""

import hashlib
from datetime import datetime, timezone

from pipeline.simulator.pools import PoolState
from pipeline.simulator.runtime import pool_metrics

STATUSES = ("Queue", "Pending", "Abnormal", "Terminating", "Creating", "Running", "Completed", "Terminated",
            "Failed")
# Always reported, as in the docs' example; the other types appear when they have running or queued work.
_BASE_TYPES = ("train", "infer", "notebook")
_STATICS_SHARE = 0.25  # pools answering with the docs' `statics` shape


def _unit(seed: int, *parts: object) -> float:
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def statics_shape(seed: int, pool: str) -> bool:
    """Whether this pool answers with root `statics` and string counts (a fixed subset of pools)."""
    return _unit(seed, "statics", pool) < _STATICS_SHARE


def workload_counts(seed: int, pool: PoolState, at: datetime) -> dict[str, dict[str, int]]:
    """type -> status -> count at `at`: Running and Queue from the runtime metrics, the others drawn."""
    work = pool_metrics(seed, pool, at)["table"]["workload"]
    running = {k: v for k, v in work["allocated"].items() if k != "sum"}
    queued = {k: v for k, v in work["queue"].items() if k != "sum"}
    hour = at.astimezone(timezone.utc).strftime("%Y%m%d%H")
    out: dict[str, dict[str, int]] = {}
    # a pool without any node (being created, failed, waiting for payment) has run nothing yet
    idle = not any(a.total(s) for a in pool.allocations for s in ("available", "abnormal", "creating", "deleting"))
    for kind in running:
        if kind not in _BASE_TYPES and not running[kind] and not queued.get(kind):
            continue

        def draw(status: str, top: int) -> int:
            return 0 if idle else int(_unit(seed, "wl", pool.name, kind, status, hour) * (top + 1))

        counts = {s: 0 for s in STATUSES}
        counts["Running"] = running[kind]
        counts["Queue"] = queued.get(kind, 0)
        counts["Completed"] = draw("Completed", 12 if kind == "train" else 3)
        counts["Failed"] = draw("Failed", 2)
        counts["Terminated"] = draw("Terminated", 2)
        counts["Pending"] = draw("Pending", 2) if counts["Queue"] else 0  # scheduled, waiting for images
        counts["Creating"] = draw("Creating", 1) if counts["Running"] else 0
        counts["Terminating"] = draw("Terminating", 1) if counts["Running"] else 0
        counts["Abnormal"] = draw("Abnormal", 1) if pool.phase in ("Abnormal", "Error") else 0
        out[kind] = counts
    return out


def workload_statistics(seed: int, pool: PoolState, at: datetime) -> dict:
    """The answer for one pool, in the shape this pool uses."""
    counts = workload_counts(seed, pool, at)
    text = statics_shape(seed, pool.name)
    cast = str if text else int
    items = [{"type": kind, "total": cast(sum(c.values())), "status": {s: cast(n) for s, n in c.items()}}
             for kind, c in counts.items()]
    body = {"total": cast(sum(sum(c.values()) for c in counts.values())), "items": items}
    return {"statics": body} if text else {"statistics": body}
