"""One simulated hour of a project's pools: transient phases end, nodes come and go, drivers are upgraded,
billing changes, pools are created and deleted.

Rates are per pool per hour, chosen so that 48 hours over ~50 pools show dozens of changes of each kind.
Every change is also reported as a `Change`, so tests can relate what the API shows to what happened.
"""

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline.simulator.catalog import GPU_DRIVERS, NPU_DRIVERS, REGION_AZS
from pipeline.simulator.events import EventLog
from pipeline.simulator.pools import (
    PoolState,
    ProjectContext,
    enter_phase,
    new_logical,
    new_physical,
    pick,
    ri,
    yearly_billing,
)

P_SCALE = 0.05
P_NODE_ABNORMAL = 0.04
P_RECOVER = 0.35
P_DRIVER_UPGRADE = 0.04
P_TO_YEARLY = 0.03
P_AUTO_RENEW_FLIP = 0.03
P_RENEW = 0.01
P_TO_PAY_PER_USE = 0.005
P_FREEZE_FLIP = 0.005
P_ERROR = 0.004
P_DELETE = 0.02
P_CREATION_FAILS = 0.08
P_SCALING_FAILS = 0.1

_EVENT_PHASES = ("Running", "Abnormal")


@dataclass(frozen=True)
class Change:
    at: datetime
    project_id: str
    pool: str
    kind: str  # created, deleting, deleted, scaled_up, scaled_down, scale_failed, nodes_abnormal, ...
    detail: str = ""


@dataclass
class ProjectPools:
    ctx: ProjectContext
    pools: dict[str, PoolState]  # creation order
    target_size: int
    events: EventLog = field(default_factory=EventLog)  # ListEvents: what changed, pool by pool


class _Step:
    def __init__(self, world: ProjectPools, rng: random.Random, tick: int, now: datetime, out: list[Change]):
        self.world, self.rng, self.tick, self.now, self.out = world, rng, tick, now, out

    def note(self, pool: PoolState, kind: str, detail: str = "") -> None:
        self.out.append(Change(self.now, pool.project.id, pool.name, kind, detail))

    def run(self) -> None:
        for pool in list(self.world.pools.values()):
            self.progress(pool)
        for pool in list(self.world.pools.values()):
            if pool.phase in _EVENT_PHASES:
                self.events(pool)
        self.maybe_create()
        self.remove_finished()
        # Every change of the hour, whichever path above made it, as the pools' events (ListEvents).
        self.world.events.observe(self.world.pools.values(), self.now, self.tick)

    # -- transitions whose time has come -------------------------------------------------------------

    def progress(self, pool: PoolState) -> None:
        rng, tick = self.rng, self.tick
        if pool.phase_until <= tick:
            before = pool.phase
            if before == "Creating":
                if rng.random() < P_CREATION_FAILS:
                    enter_phase(pool, "CreationFailed", rng, tick)
                else:
                    for a in pool.allocations:
                        a.move(rng, "creating", "available", a.total("creating"))
                    enter_phase(pool, "Running", rng, tick)
            elif before == "Waiting":
                enter_phase(pool, "Creating", rng, tick)
            elif before == "Error":
                for a in pool.allocations:
                    a.move(rng, "abnormal", "available", a.total("abnormal"))
                enter_phase(pool, "Running", rng, tick)
            elif before == "ScalingFailed":
                enter_phase(pool, "Running", rng, tick)
            if pool.phase != before:
                self.note(pool, "phase_changed", f"{before}->{pool.phase}")
        if pool.phase in ("Running", "Abnormal", "ScalingFailed") and pool.scale_until <= tick:
            self.finish_scaling(pool)
        for kind, driver in (("gpu", pool.gpu), ("npu", pool.npu)):
            if driver is not None and driver.state == "Upgrading" and pool.driver_until <= tick:
                before = driver.version
                driver.version, driver.state = driver.target, "Running"
                self.note(pool, "driver_upgraded", f"{kind}: {before}->{driver.version}")

    def finish_scaling(self, pool: PoolState) -> None:
        rng = self.rng
        creating = pool.node_total("creating")
        if creating and pool.phase != "ScalingFailed" and rng.random() < P_SCALING_FAILS:
            for a in pool.allocations:
                for az, c in list(a.nodes["creating"].items()):
                    a.azs[az] -= c
                    if not a.azs[az]:
                        del a.azs[az]
                a.nodes["creating"] = {}
            self._release_from_parent(pool, creating)
            enter_phase(pool, "ScalingFailed", rng, self.tick)
            self.note(pool, "scale_failed", f"{creating} node(s) not created")
        elif creating:
            for a in pool.allocations:
                a.move(rng, "creating", "available", a.total("creating"))
            self.note(pool, "scale_completed", f"+{creating}")
        for a in pool.allocations:
            a.nodes["deleting"] = {}

    # -- random events of a healthy pool ---------------------------------------------------------------

    def events(self, pool: PoolState) -> None:
        rng = self.rng
        abnormal = pool.node_total("abnormal")
        if abnormal and rng.random() < P_RECOVER:
            for a in pool.allocations:
                a.move(rng, "abnormal", "available", a.total("abnormal"))
            self.note(pool, "nodes_recovered", str(abnormal))
        if rng.random() < P_NODE_ABNORMAL:
            a = pick(rng, pool.allocations)
            n = a.move(rng, "available", "abnormal", 1 + ri(rng, 2))
            if n:
                self.note(pool, "nodes_abnormal", f"{a.flavor}: {n}")
        self.settle_health(pool)
        busy = pool.node_total("creating") or pool.node_total("deleting")
        if not busy and rng.random() < P_SCALE:
            if rng.random() < 0.6:
                self.scale_up(pool)
            else:
                self.scale_down(pool)
        if pool.physical:
            self.driver_events(pool)
            self.billing_events(pool)
        if rng.random() < P_ERROR:
            enter_phase(pool, "Error", rng, self.tick)
            self.note(pool, "phase_changed", "->Error")
        elif rng.random() < P_DELETE:
            self.start_deleting(pool)

    def settle_health(self, pool: PoolState) -> None:
        """Running <-> Abnormal by the share of abnormal nodes."""
        abnormal = pool.node_total("abnormal")
        live = abnormal + pool.node_total("available")
        phase = "Abnormal" if abnormal and abnormal * 2 >= live else "Running"
        if phase != pool.phase:
            before = pool.phase
            pool.phase = phase
            pool.message = f"{abnormal} node(s) are abnormal." if phase == "Abnormal" else ""
            self.note(pool, "phase_changed", f"{before}->{phase}")

    def scale_up(self, pool: PoolState) -> None:
        rng = self.rng
        a = pick(rng, pool.allocations)
        n = 1 + ri(rng, max(1, a.count // 3 + 1))
        if not pool.physical:
            parent = self.world.pools.get(pool.parent)
            if parent is None:
                return
            source = next((x for x in parent.allocations if x.flavor == a.flavor), None)
            room = source.count - parent.lent.get(a.flavor, 0) if source else 0
            n = min(n, room)
            if n <= 0:
                return
            parent.lent[a.flavor] = parent.lent.get(a.flavor, 0) + n
            a.max_count = max(a.max_count, a.count + n)
        zones = sorted(a.azs) or list(REGION_AZS[pool.project.region][:1])
        before = a.count
        for _ in range(n):
            az = pick(rng, zones)
            a.azs[az] = a.azs.get(az, 0) + 1
            a.nodes["creating"][az] = a.nodes["creating"].get(az, 0) + 1
        pool.scale_until = self.tick + 1 + ri(rng, 2)
        self.note(pool, "scaled_up", f"{a.flavor}: {before}->{a.count}")

    def scale_down(self, pool: PoolState) -> None:
        rng = self.rng
        a = pick(rng, pool.allocations)
        floor = max(1, pool.lent.get(a.flavor, 0))
        n = min(1 + ri(rng, max(1, a.count // 3)), a.count - floor, a.total("available"))
        if n <= 0:
            return
        before = a.count
        for _ in range(n):
            zones = sorted(az for az, c in a.nodes["available"].items() if c > 0)
            az = pick(rng, zones)
            a.nodes["available"][az] -= 1
            if not a.nodes["available"][az]:
                del a.nodes["available"][az]
            a.nodes["deleting"][az] = a.nodes["deleting"].get(az, 0) + 1
            a.azs[az] -= 1
            if not a.azs[az]:
                del a.azs[az]
        self._release_from_parent(pool, n)
        pool.scale_until = self.tick + 1
        self.note(pool, "scaled_down", f"{a.flavor}: {before}->{a.count}")

    def _release_from_parent(self, pool: PoolState, n: int) -> None:
        if pool.physical:
            return
        parent = self.world.pools.get(pool.parent)
        if parent is not None:
            flavor = pool.allocations[0].flavor
            parent.lent[flavor] = max(0, parent.lent.get(flavor, 0) - n)

    def driver_events(self, pool: PoolState) -> None:
        rng = self.rng
        for kind, driver, versions in (("gpu", pool.gpu, GPU_DRIVERS), ("npu", pool.npu, NPU_DRIVERS)):
            if driver is None or driver.state != "Running" or rng.random() >= P_DRIVER_UPGRADE:
                continue
            newer = versions[versions.index(driver.version) + 1:] if driver.version in versions else ()
            if not newer:
                continue
            driver.target = newer[min(ri(rng, 2), len(newer) - 1)]
            driver.state = "Upgrading"
            pool.driver_until = self.tick + 1 + ri(rng, 3)
            self.note(pool, "driver_upgrade_started", f"{kind}: {driver.version}->{driver.target}")

    def billing_events(self, pool: PoolState) -> None:
        rng, b = self.rng, pool.billing
        if b is None:
            return
        flavors = [a.flavor for a in pool.allocations]
        if b.mode == "0":
            if rng.random() < P_TO_YEARLY:
                pool.billing = yearly_billing(rng, self.now, flavors)
                self.note(pool, "billing_changed", f"0->1 order {pool.billing.order_id}")
            return
        if rng.random() < P_AUTO_RENEW_FLIP:
            b.auto_renew = "0" if b.auto_renew == "1" else "1"
            self.note(pool, "auto_renew_changed", b.auto_renew)
        if rng.random() < P_RENEW:
            renewed = yearly_billing(rng, self.now, flavors)
            b.order_id, b.period_num = renewed.order_id, renewed.period_num
            self.note(pool, "billing_changed", f"renewed order {b.order_id}")
        elif rng.random() < P_TO_PAY_PER_USE:
            pool.billing = type(b)("0")
            self.note(pool, "billing_changed", "1->0")
        if rng.random() < P_FREEZE_FLIP:
            pool.control_mode ^= 8
            self.note(pool, "control_mode_changed", str(pool.control_mode))

    def start_deleting(self, pool: PoolState) -> None:
        rng, tick = self.rng, self.tick
        enter_phase(pool, "Deleting", rng, tick)
        self.note(pool, "deleting")
        if pool.physical:
            # Sub-pools go with their parent, never after it: no sub-pool outlives the pool it points to.
            for child in self.world.pools.values():
                if child.parent == pool.name:
                    if child.phase != "Deleting":
                        enter_phase(child, "Deleting", rng, tick)
                        self.note(child, "deleting", "parent deleted")
                    child.phase_until = min(child.phase_until, pool.phase_until)

    # -- pools appear and disappear ----------------------------------------------------------------------

    def maybe_create(self) -> None:
        rng, world = self.rng, self.world
        size = len(world.pools)
        # Steady state around the initial size: creation balances deletion, pulled back toward the target.
        p = 0.018 * world.target_size + 0.03 * (world.target_size - size)
        if rng.random() >= min(0.9, max(0.01, p)):
            return
        created = self.now - timedelta(minutes=ri(rng, 60))
        parents = [x for x in world.pools.values() if x.physical and x.phase == "Running"]
        if parents and rng.random() < 0.3:
            parent = pick(rng, parents)
            pool = new_logical(world.ctx, rng, parent, created, self.tick, "Creating")
            if pool is not None:
                parent.subpools += 1
                world.pools[pool.name] = pool
                self.note(pool, "created", f"logical under {parent.name}")
                return
        phase = "Waiting" if rng.random() < 0.25 else "Creating"
        pool = new_physical(world.ctx, rng, created, phase, self.tick)
        world.pools[pool.name] = pool
        self.note(pool, "created", phase)

    def remove_finished(self) -> None:
        pools = self.world.pools
        done = [p for p in pools.values() if p.phase in ("Deleting", "CreationFailed") and p.phase_until <= self.tick]
        for pool in done:
            pools.pop(pool.name, None)
            self.note(pool, "deleted", pool.phase)
            if not pool.physical:
                parent = pools.get(pool.parent)
                if parent is not None:
                    parent.subpools = max(0, parent.subpools - 1)
                    self._release_from_parent(pool, pool.allocations[0].count)
            else:
                for orphan in [c for c in pools.values() if c.parent == pool.name]:
                    pools.pop(orphan.name)
                    self.note(orphan, "deleted", "with parent")


def step(world: ProjectPools, rng: random.Random, tick: int, now: datetime, out: list[Change]) -> None:
    _Step(world, rng, tick, now, out).run()

