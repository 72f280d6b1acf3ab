"""ListEvents (GET /v1/{project_id}/events?resource=pools&name=<pool id>): a pool's phase and node-count
history, as the service reports it (utilization reference section 6; envelope as the SDK's ListEventsResponse).

The history is recorded where the fleet changes: after each simulated hour (evolve.step) every pool's phase and
node counts per state are compared with what they were, and each difference becomes an event:
- `PoolStatusChange`, message "from Running to Abnormal";
- `PoolResourcesStatusChange`, message "available/abnormal/creating/deleting count from 1/0/0/0 to 0/1/0/0,
  timestamp: 1672366579" (the counts summed over the pool's flavors; the timestamp is epoch seconds).
Type Warning for a change into trouble (an abnormal phase, more abnormal nodes), else Normal. Like Kubernetes
events, a repeat of an event already on record (same reason and message, e.g. a pool flapping between Running
and Abnormal) is not a new item: its `count` grows and its `lastTimestamp` moves.

Time within the hour: each pool's changes of an hour happen at a moment drawn from (pool, hour), whole seconds
before the hour's end, so events of different pools do not all share a second. Everything is a function of the
seed's fleet and the simulated time: the same fleet advanced by the same hours holds the same events.
The pools present when the simulation starts have no history before it (their state then is the baseline);
a pool created later starts from nothing (0/0/0/0, no phase). Events of a deleted pool stay listable by name.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pipeline.simulator.pools import PoolState
from pipeline.simulator.render import rfc3339

STATUS_REASON = "PoolStatusChange"
RESOURCES_REASON = "PoolResourcesStatusChange"
# Phases a pool enters when something went wrong: entering one is a Warning.
TROUBLE_PHASES = frozenset({"Abnormal", "Error", "CreationFailed", "ScalingFailed"})
EVENT_TYPES = ("Normal", "Warning")
_COUNTED = ("available", "abnormal", "creating", "deleting")  # the order of the message's counts


def _epoch(moment: datetime) -> int:
    return int(moment.astimezone(timezone.utc).timestamp())


@dataclass
class PoolEvent:
    seq: int  # order of first occurrence within the project, the tie-break of "newest last"
    type: str
    reason: str
    message: str
    first: datetime
    last: datetime
    count: int = 1

    def doc(self) -> dict:
        return {"apiVersion": "v1", "kind": "Event", "type": self.type, "reason": self.reason,
                "message": self.message, "count": self.count, "firstTimestamp": rfc3339(self.first),
                "lastTimestamp": rfc3339(self.last)}


def status_message(before: str, after: str) -> str:
    return f"from {before} to {after}"


def resources_message(before: tuple[int, ...], after: tuple[int, ...], at: datetime) -> str:
    def slash(counts: tuple[int, ...]) -> str:
        return "/".join(str(c) for c in counts)
    return f"{'/'.join(_COUNTED)} count from {slash(before)} to {slash(after)}, timestamp: {_epoch(at)}"


def _counts(pool: PoolState) -> tuple[int, ...]:
    return tuple(pool.node_total(state) for state in _COUNTED)


@dataclass
class EventLog:
    """One project's pool events, and the state each pool was last seen in."""

    seed: int = 0
    events: dict[str, list[PoolEvent]] = field(default_factory=dict)  # pool id -> its events, first seen first
    seen: dict[str, tuple[str | None, tuple[int, ...]]] = field(default_factory=dict)
    _seq: int = 0

    def baseline(self, pools) -> None:
        """The state of pools that were there before any history (no events)."""
        for pool in pools:
            self.seen[pool.name] = (pool.phase, _counts(pool))

    def observe(self, pools, hour_end: datetime, tick: int) -> None:
        """Record every pool's change since it was last seen, at a moment within the hour ending at `hour_end`."""
        for pool in pools:
            phase, counts = pool.phase, _counts(pool)
            before_phase, before_counts = self.seen.get(pool.name, (None, (0,) * len(_COUNTED)))
            if (phase, counts) == (before_phase, before_counts):
                continue
            self.seen[pool.name] = (phase, counts)
            at = hour_end - timedelta(seconds=self._offset(pool.name, tick))
            if before_phase is not None and phase != before_phase:
                kind = "Warning" if phase in TROUBLE_PHASES else "Normal"
                self._add(pool.name, kind, STATUS_REASON, status_message(before_phase, phase), at)
            if counts != before_counts:
                kind = "Warning" if counts[1] > before_counts[1] else "Normal"
                self._add(pool.name, kind, RESOURCES_REASON, resources_message(before_counts, counts, at), at)

    def _offset(self, name: str, tick: int) -> int:
        digest = hashlib.blake2b(f"{self.seed}:event:{name}:{tick}".encode(), digest_size=4).digest()
        return int.from_bytes(digest, "big") % 3600  # 0..3599 s before the hour's end

    def _add(self, pool: str, kind: str, reason: str, message: str, at: datetime) -> None:
        mine = self.events.setdefault(pool, [])
        same = next((e for e in mine if (e.type, e.reason, e.message) == (kind, reason, message)), None)
        if same is not None:  # a repeat: counted on the event on record, as Kubernetes does
            same.count += 1
            same.last = max(same.last, at)
            return
        self._seq += 1
        mine.append(PoolEvent(self._seq, kind, reason, message, at, at))

    def list(self, pool: str, *, since: int | None = None, until: int | None = None,
             kind: str | None = None) -> list[dict]:
        """The pool's events that touch [since, until] (epoch seconds; an event counts while first <= until and
        last >= since, so one repeated since `since` is listed again), newest last."""
        out = []
        for e in self.events.get(pool, ()):
            if kind is not None and e.type != kind:
                continue
            if since is not None and _epoch(e.last) < since:
                continue
            if until is not None and _epoch(e.first) > until:
                continue
            out.append(e)
        out.sort(key=lambda e: (e.last, e.seq))
        return [e.doc() for e in out]
