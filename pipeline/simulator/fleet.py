"""The simulated account: projects over several regions, their pools, and a clock that evolves them.

Everything is a pure function of the seed and of how many simulated hours have passed: two fleets with the
same seed that were advanced by the same total time hold the same documents, however the time was split.
Thread-safe: the HTTP server reads while tests or the control endpoint advance the clock.
"""

import json
import math
import random
import threading
from dataclasses import replace
from datetime import datetime, timedelta

from pipeline.simulator.catalog import (FLAVORS, REGION_AZS, VIRTUAL_FLAVORS, resource_flavor_doc,
                                       virtual_flavor_doc)
from pipeline.simulator.events import EventLog
from pipeline.simulator.evolve import Change, ProjectPools, step
from pipeline.simulator.generate import (
    DEFAULT_DOMAIN_NAME,
    DEFAULT_START,
    domain_id_for,
    populate,
    project_rng,
)
from pipeline.simulator.nodes import pool_nodes
from pipeline.simulator.pools import PoolState, ProjectContext
from pipeline.simulator.render import render
from pipeline.simulator.projects import ProjectInfo, make_projects


class Fleet:
    def __init__(
        self,
        seed: int,
        projects: int,
        pools_per_project: int,
        start: datetime = DEFAULT_START,
        regions: tuple[str, ...] | None = None,
        domain_name: str = DEFAULT_DOMAIN_NAME,
    ):
        if projects < 1 or pools_per_project < 0:
            raise ValueError("need at least one project and a non-negative number of pools per project")
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        self.seed = seed
        self.start = start
        self.domain_id = domain_id_for(seed)
        self.domain_name = domain_name
        self.projects: list[ProjectInfo] = make_projects(seed, projects, self.domain_id, regions)
        self.tick = 0  # whole simulated hours applied so far
        self.changes: list[Change] = []
        self._hours = 0.0
        self._lock = threading.RLock()
        self._worlds: dict[str, ProjectPools] = {}
        for index, info in enumerate(self.projects):
            rng = project_rng(seed, index)
            ctx = ProjectContext.draw(info, domain_name, rng)
            pools = populate(ctx, rng, pools_per_project, start)
            world = ProjectPools(ctx, {p.name: p for p in pools}, pools_per_project, EventLog(seed))
            world.events.baseline(pools)  # the state the history starts from
            self._worlds[info.id] = world
        self._rendered: dict[str, list[dict]] = {}

    # -- clock -------------------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        with self._lock:
            return self.start + timedelta(hours=self._hours)

    def advance(self, hours: float = 1.0) -> list[Change]:
        """Move the clock; each whole simulated hour crossed applies one step to every project."""
        if hours < 0 or math.isnan(hours):
            raise ValueError("hours must be >= 0")
        with self._lock:
            self._hours += hours
            target = math.floor(self._hours + 1e-9)
            new: list[Change] = []
            stepped = self.tick < target
            while self.tick < target:
                self.tick += 1
                moment = self.start + timedelta(hours=self.tick)
                for index, info in enumerate(self.projects):
                    rng = random.Random(f"{self.seed}:tick:{self.tick}:{index}")
                    step(self._worlds[info.id], rng, self.tick, moment, new)
            self.changes.extend(new)
            if stepped:
                self._rendered.clear()
            return new

    # -- projects ----------------------------------------------------------------------------------------

    def project(self, project_id: str) -> ProjectInfo | None:
        return next((p for p in self.projects if p.id == project_id), None)

    def mark_forbidden(self, project_ids: set[str]) -> None:
        """Flag projects the account's credential may not use (the server answers 403 for them)."""
        with self._lock:
            self.projects = [replace(p, forbidden=p.id in project_ids) for p in self.projects]
            for world in self._worlds.values():
                world.ctx.info = next(p for p in self.projects if p.id == world.ctx.info.id)

    # -- pools -------------------------------------------------------------------------------------------

    def pool_states(self, project_id: str) -> list[PoolState]:
        with self._lock:
            world = self._worlds.get(project_id)
            return list(world.pools.values()) if world else []

    def pool_state(self, project_id: str, name: str) -> PoolState | None:
        with self._lock:
            world = self._worlds.get(project_id)
            return world.pools.get(name) if world else None

    def pools(self, project_id: str) -> list[dict]:
        """Rendered pool documents of a project. Shared and cached: callers must not mutate them."""
        with self._lock:
            cached = self._rendered.get(project_id)
            if cached is None:
                world = self._worlds.get(project_id)
                cached = [render(p) for p in world.pools.values()] if world else []
                self._rendered[project_id] = cached
            return cached

    def delete_pool(self, project_id: str, name: str) -> None:
        """Remove a pool at once, as a user deleting it in the console would (for tests of deletions)."""
        with self._lock:
            del self._worlds[project_id].pools[name]
            self._rendered.pop(project_id, None)

    def pool(self, project_id: str, name: str) -> dict | None:
        return next((d for d in self.pools(project_id) if d["metadata"]["name"] == name), None)

    def pool_state(self, project_id: str, name: str) -> PoolState | None:
        with self._lock:
            world = self._worlds.get(project_id)
            return world.pools.get(name) if world else None

    def nodes(self, project_id: str, name: str) -> list[dict] | None:
        with self._lock:
            world = self._worlds.get(project_id)
            state = world.pools.get(name) if world else None
            if state is None:
                return None
            # a Logical sub-pool's nodes are its parent's: they run the parent's drivers
            parent = world.pools.get(state.parent) if state.parent else None
            return pool_nodes(state, self.seed, self.now, parent)

    def events(self, project_id: str, name: str, *, since: int | None = None, until: int | None = None,
               kind: str | None = None) -> list[dict]:
        """ListEvents of one pool (events.py): its events within [since, until] (epoch seconds), newest last;
        none for a name the project never had."""
        with self._lock:
            world = self._worlds.get(project_id)
            return world.events.list(name, since=since, until=until, kind=kind) if world else []

    def flavors(self, project_id: str) -> list[dict]:
        info = self.project(project_id)
        if info is None:
            return []
        zones = REGION_AZS[info.region]
        return [resource_flavor_doc(f, zones) for f in FLAVORS.values()]

    def virtual_flavors(self, project_id: str) -> list[dict]:
        """The virtual flavors of Logical pools (GET /v1/{pid}/virtualresourceflavors), the same in every region."""
        if self.project(project_id) is None:
            return []
        return [virtual_flavor_doc(f) for f in VIRTUAL_FLAVORS]

    def snapshot(self) -> dict[str, list[dict]]:
        with self._lock:
            return {p.id: self.pools(p.id) for p in self.projects}

    def to_json(self) -> str:
        """Every project's pools, canonical JSON: equal for equal seeds and equal simulated time."""
        return json.dumps(self.snapshot(), sort_keys=True, separators=(",", ":"))
