"""Pool state and how it is drawn at random (render.py turns it into the wire document).

A pool is kept as a small mutable state (node counts per flavor, AZ and node state; driver; billing; phase)
so that evolution can change it and every rendering stays consistent: per-AZ counts always add up.
"""

import bisect
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pipeline.simulator.catalog import (
    CPU_FLAVORS,
    FLAVORS,
    GPU_DRIVERS,
    GPU_FLAVORS,
    NPU_DRIVERS,
    NPU_FLAVORS,
    REGION_AZS,
)
from pipeline.simulator.projects import ProjectInfo, hex32

PHASES = ("Creating", "Running", "Abnormal", "Deleting", "Error", "CreationFailed", "ScalingFailed", "Waiting")
NODE_STATES = ("creating", "available", "abnormal", "deleting")

# Initial phase mix of a physical pool; evolution moves pools between phases from there.
_PHASE_WEIGHTS = (
    ("Running", 60), ("Abnormal", 8), ("Creating", 6), ("Deleting", 4), ("Error", 4),
    ("CreationFailed", 4), ("ScalingFailed", 6), ("Waiting", 8),
)
_CONTROL_MODES = ((0, 80), (1, 4), (2, 3), (4, 3), (8, 3), (16, 1), (3, 2), (9, 2), (24, 1), (12, 1))
_SCOPE_SETS = (("Train",), ("Train", "Infer"), ("Infer",), ("Train", "Infer", "Notebook"), ("Notebook",),
               ("Train", "Notebook"))
_PURPOSES = ("train", "infer", "dev", "llm", "cv", "nlp", "batch", "research", "asr", "rec")
_DESCRIPTIONS = ("", "", "shared training pool", "LLM pre-training", "online inference", "notebook development",
                 "batch scoring, owned by the data team", "speech recognition experiments")
# Pools created before this date lack the fields the service added later (sparser documents, as in reality).
_LEGACY_BEFORE = datetime(2024, 6, 1, tzinfo=timezone.utc)
SDK_SHAPE_SHARE = 0.1
BILLING_EXEMPT_SHARE = 0.1


def ri(rng: random.Random, n: int) -> int:
    """Uniform int in [0, n): `int(random() * n)` is a few times faster than randrange, which matters when
    bulk-generating hundreds of thousands of pools; the bias for small n is far below anything observable."""
    return int(rng.random() * n)


def pick(rng: random.Random, seq):
    return seq[int(rng.random() * len(seq))]


def _cumulative(table) -> tuple[tuple, list[float]]:
    values, bounds, total = [], [], 0.0
    for value, weight in table:
        total += weight
        values.append(value)
        bounds.append(total)
    return tuple(values), [b / total for b in bounds]


def _weighted(rng: random.Random, table: tuple[tuple, list[float]]) -> object:
    values, bounds = table
    return values[min(bisect.bisect_right(bounds, rng.random()), len(values) - 1)]


_PHASE_TABLE = _cumulative(_PHASE_WEIGHTS)
_CONTROL_TABLE = _cumulative(_CONTROL_MODES)


def draw_phase(rng: random.Random) -> str:
    return _weighted(rng, _PHASE_TABLE)


def order_id(rng: random.Random, moment: datetime) -> str:
    """CBC order ids look like CS2611011234ABCDE: prefix, yymmddHHMM, five uppercase letters."""
    letters = _chars(rng, "ABCDEFGHJKLMNPQRSTUVWXYZ", 5)
    m = moment
    return f"CS{m.year % 100:02d}{m.month:02d}{m.day:02d}{m.hour:02d}{m.minute:02d}{letters}"


@dataclass(slots=True)
class Allocation:
    """One flavor of a pool: requested count per AZ and nodes per state per AZ."""

    flavor: str
    azs: dict[str, int]
    max_count: int
    nodes: dict[str, dict[str, int]] = field(default_factory=lambda: {s: {} for s in NODE_STATES})

    @property
    def count(self) -> int:
        return sum(self.azs.values())

    def total(self, state: str) -> int:
        return sum(self.nodes[state].values())

    def move(self, rng: random.Random, src: str, dst: str | None, n: int) -> int:
        """Move up to n nodes between states within their AZ (dst None: the nodes disappear)."""
        moved = 0
        for _ in range(n):
            zones = sorted(az for az, c in self.nodes[src].items() if c > 0)
            if not zones:
                break
            az = pick(rng, zones) if len(zones) > 1 else zones[0]
            _bump(self.nodes[src], az, -1)
            if dst is not None:
                _bump(self.nodes[dst], az, 1)
            moved += 1
        return moved


def _bump(counts: dict[str, int], az: str, delta: int) -> None:
    value = counts.get(az, 0) + delta
    if value:
        counts[az] = value
    else:
        counts.pop(az, None)


@dataclass
class Driver:
    version: str  # what runs (status)
    target: str  # what is requested (spec); differs while Upgrading
    state: str  # Creating | Upgrading | Running | Abnormal


@dataclass
class Billing:
    mode: str  # "0" pay-per-use | "1" yearly/monthly
    period_type: str = ""  # "2" month | "3" year
    period_num: str = ""
    auto_renew: str = ""
    order_id: str = ""
    resource_ids: str = ""


@dataclass(slots=True)
class PoolState:
    name: str
    project: ProjectInfo
    domain_name: str
    created_at: datetime
    display_name: str
    resource_id: str
    workspace_id: str
    type: str  # Dedicate | Logical
    scopes: tuple[str, ...]
    allocations: list[Allocation]
    phase: str = "Running"
    message: str = ""
    scope_states: dict[str, str] = field(default_factory=dict)
    parent: str = ""
    root: str = ""
    network: str = ""
    job_flavors: tuple[str, ...] = ()
    update_strategy: str = "idle"
    gpu: Driver | None = None
    npu: Driver | None = None
    control_mode: int = 0
    billing: Billing | None = None
    description: str = ""
    sdk_shape: bool = False  # status.resources.<state> as one object, as the SDK models it
    legacy: bool = False
    subpools: int = 0
    lent: dict[str, int] = field(default_factory=dict)  # nodes per flavor promised to logical sub-pools
    extra_labels: dict[str, str] = field(default_factory=dict)
    extra_annotations: dict[str, str] = field(default_factory=dict)
    extra_spec: dict = field(default_factory=dict)
    extra_status: dict = field(default_factory=dict)
    # Tick (simulated hour) at which the current transient phase, scaling or driver upgrade ends.
    phase_until: int = 0
    scale_until: int = 0
    driver_until: int = 0

    @property
    def physical(self) -> bool:
        return self.type == "Dedicate"

    def node_total(self, state: str) -> int:
        return sum(a.total(state) for a in self.allocations)


@dataclass
class ProjectContext:
    """What drawing a pool needs to know about its project."""

    info: ProjectInfo
    domain_name: str
    workspaces: tuple[str, ...]
    networks: tuple[str, ...]
    serial: int = 0

    @classmethod
    def draw(cls, info: ProjectInfo, domain_name: str, rng: random.Random) -> "ProjectContext":
        workspaces = tuple(hex32(rng) for _ in range(ri(rng, 3)))
        networks = tuple(f"network-maos-{hex32(rng)}" for _ in range(1 + ri(rng, 3)))
        return cls(info, domain_name, workspaces, networks)


def _pool_name(rng: random.Random, display: str) -> str:
    h = hex32(rng)
    if rng.random() < 0.05 and len(display) + 33 <= 63:
        return f"{display}-{h}"  # the doc example's style, e.g. auto-pool-os-86c1...
    return f"pool-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _sample(rng: random.Random, seq, k: int) -> list:
    pool = list(seq)
    out = []
    for _ in range(k):
        out.append(pool.pop(ri(rng, len(pool))))
    return out


def _split(rng: random.Random, count: int, zones: tuple[str, ...]) -> dict[str, int]:
    """Spread `count` nodes over 1-3 of the region's zones, at least one node in each zone used."""
    k = min(count, len(zones), (1, 1, 2, 3)[int(rng.random() * 4)])
    if k == 1:  # the common case, kept cheap for bulk generation
        return {zones[int(rng.random() * len(zones))]: count}
    picked = sorted(zones) if k == len(zones) else sorted(_sample(rng, zones, k))
    out = dict.fromkeys(picked, 1)
    for _ in range(count - k):
        out[picked[int(rng.random() * k)]] += 1
    return out


def _draw_flavors(rng: random.Random, single: bool) -> list[str]:
    x = rng.random()
    primary_pool = GPU_FLAVORS if x < 0.45 else NPU_FLAVORS if x < 0.75 else CPU_FLAVORS
    flavors = [pick(rng, primary_pool)]
    if not single:
        extra = rng.random()
        if extra < 0.3:
            flavors.append(pick(rng, CPU_FLAVORS))
        if extra < 0.1:
            other = GPU_FLAVORS if flavors[0] in NPU_FLAVORS else NPU_FLAVORS
            flavors.append(pick(rng, other))
    return list(dict.fromkeys(flavors))


def _draw_billing(rng: random.Random, moment: datetime, flavors: list[str], force_yearly: bool) -> Billing | None:
    if not force_yearly and rng.random() < BILLING_EXEMPT_SHARE:
        return None
    # Some flavors can only be bought yearly/monthly.
    yearly = force_yearly or rng.random() < 0.4 or any(FLAVORS[f].billing_modes == (1,) for f in flavors)
    if not yearly:
        return Billing("0")
    return yearly_billing(rng, moment, flavors)


def yearly_billing(rng: random.Random, moment: datetime, flavors: list[str]) -> Billing:
    monthly = rng.random() < 0.7
    # A JSON object in a string-valued annotation; flavor names need no escaping.
    ids = "{" + ",".join(f'"{f}":"{hex32(rng)}"' for f in flavors) + "}"
    return Billing(
        mode="1",
        period_type="2" if monthly else "3",
        period_num=str(1 + ri(rng, 11 if monthly else 3)),
        auto_renew="1" if rng.random() < 0.5 else "0",
        order_id=order_id(rng, moment),
        resource_ids=ids,
    )


def _extras(rng: random.Random, pool: PoolState, region: str) -> None:
    """Labels, annotations and fields the pipeline does not know, for forward-compatibility."""
    if rng.random() < 0.3:
        pool.extra_labels["os.modelarts.pool/cluster.version"] = ("v1.25", "v1.28", "v1.31")[ri(rng, 3)]
    if rng.random() < 0.2:
        pool.extra_labels["os.modelarts/sharing"] = "unshared"
    if rng.random() < 0.15:
        pool.extra_labels["finops.example.com/cost-center"] = f"cc-{ri(rng, 10000):04d}"
    if rng.random() < 0.25:
        pool.extra_annotations["os.modelarts/external-access"] = "elb"
    if rng.random() < 0.2:
        tag = {"key": "team", "value": ("vision", "speech", "nlp", "platform")[ri(rng, 4)]}
        pool.extra_annotations["os.modelarts/tms.tags"] = json.dumps([tag], separators=(",", ":"))
    if rng.random() < 0.1:
        pool.extra_annotations["os.modelarts.pool/placement.hint"] = "spread"
    if pool.physical and rng.random() < 0.15:
        pool.extra_spec["kubernetesSvcIpRange"] = "10.247.0.0/16"
        pool.extra_spec["clusterFlavor"] = "cce.s2.small"
        pool.extra_spec["masters"] = [{"az": REGION_AZS[region][0]}]
    if rng.random() < 0.1:
        pool.extra_spec["schedulerConfig"] = {"strategy": ("binpack", "spread")[ri(rng, 2)]}
    if pool.physical and rng.random() < 0.1:
        pool.extra_status["clusters"] = {
            "name": f"cce-{pool.name[:24]}",
            "clusterFlavor": "cce.s2.small",
            "type": "VirtualMachine",
            "version": "v1.28",
            "plugins": {"name": "volcano"},
        }


def new_physical(ctx: ProjectContext, rng: random.Random, created_at: datetime, phase: str | None, tick: int,
                 ) -> PoolState:
    ctx.serial += 1
    sdk_shape = rng.random() < SDK_SHAPE_SHARE
    flavors = _draw_flavors(rng, single=sdk_shape)
    primary = FLAVORS[flavors[0]]
    display = f"{primary.kind}-{pick(rng, _PURPOSES)}-{ctx.serial:02d}"
    zones = REGION_AZS[ctx.info.region]
    allocations = []
    for name in flavors:
        count = 1 + ri(rng, FLAVORS[name].max_nodes)
        azs = _split(rng, count, zones)
        allocations.append(Allocation(name, azs, count))
    if phase is None:
        phase = draw_phase(rng)
    legacy = created_at < _LEGACY_BEFORE
    name = _pool_name(rng, display)
    pool = PoolState(
        name=name,
        project=ctx.info,
        domain_name=ctx.domain_name,
        created_at=created_at,
        display_name=display,
        resource_id=f"maos-{display}-{_suffix(rng)}",
        workspace_id=_workspace(rng, ctx),
        type="Dedicate",
        scopes=pick(rng, _SCOPE_SETS),
        allocations=allocations,
        root=name,
        network=pick(rng, ctx.networks),
        job_flavors=tuple(j for f in flavors for j in FLAVORS[f].job_flavors),
        update_strategy="force" if rng.random() < 0.3 else "idle",
        control_mode=_weighted(rng, _CONTROL_TABLE),
        billing=_draw_billing(rng, created_at, flavors, force_yearly=phase == "Waiting"),
        description=pick(rng, _DESCRIPTIONS),
        sdk_shape=sdk_shape,
        legacy=legacy,
    )
    kinds = {FLAVORS[f].kind for f in flavors}
    if "gpu" in kinds:
        v = GPU_DRIVERS[ri(rng, 4)]
        pool.gpu = Driver(v, v, "Running")
    if "npu" in kinds:
        v = NPU_DRIVERS[ri(rng, 4)]
        pool.npu = Driver(v, v, "Running")
    _extras(rng, pool, ctx.info.region)
    enter_phase(pool, phase, rng, tick)
    return pool


def new_logical(ctx: ProjectContext, rng: random.Random, parent: PoolState, created_at: datetime, tick: int,
                phase: str = "Running") -> PoolState | None:
    """A sub-pool carved out of a physical pool: some of one parent flavor, elastic up to maxCount.

    None when the parent has lent out all its nodes already.
    """
    candidates = [a for a in parent.allocations if a.count > parent.lent.get(a.flavor, 0)]
    if not candidates:
        return None
    ctx.serial += 1
    source = pick(rng, candidates)
    count = 1 + ri(rng, source.count - parent.lent.get(source.flavor, 0))
    parent.lent[source.flavor] = parent.lent.get(source.flavor, 0) + count
    azs = _split(rng, count, tuple(sorted(source.azs)) or REGION_AZS[ctx.info.region])
    display = f"{parent.display_name}-sub{ctx.serial:02d}"
    pool = PoolState(
        name=_pool_name(rng, display),
        project=ctx.info,
        domain_name=ctx.domain_name,
        created_at=max(created_at, parent.created_at),
        display_name=display,
        resource_id=f"maos-{display}-{_suffix(rng)}",
        workspace_id=_workspace(rng, ctx),
        type="Logical",
        scopes=tuple(s for s in parent.scopes if rng.random() < 0.7) or parent.scopes[:1],
        allocations=[Allocation(source.flavor, azs, count + ri(rng, count + 1))],
        parent=parent.name,
        root=parent.root,
        job_flavors=FLAVORS[source.flavor].job_flavors[:2],
        control_mode=0,
        description="",
        legacy=created_at < _LEGACY_BEFORE,
    )
    _extras(rng, pool, ctx.info.region)
    enter_phase(pool, phase, rng, tick)
    return pool


def _suffix(rng: random.Random) -> str:
    return _chars(rng, "abcdefghijklmnopqrstuvwxyz0123456789", 5)


def _chars(rng: random.Random, alphabet: str, n: int) -> str:
    # One 64-bit draw split into digits of the alphabet's base: cheaper than n separate draws.
    x = rng.getrandbits(64)
    base = len(alphabet)
    out = []
    for _ in range(n):
        x, d = divmod(x, base)
        out.append(alphabet[d])
    return "".join(out)


def _workspace(rng: random.Random, ctx: ProjectContext) -> str:
    if ctx.workspaces and rng.random() < 0.25:
        return pick(rng, ctx.workspaces)
    return "0"


_KEEPS_NODES = frozenset({"Running", "ScalingFailed", "Abnormal", "Error"})


def _nodes_for(phase: str, a: Allocation) -> dict[str, dict[str, int]]:
    """The node states an allocation has right after its pool enters `phase` (hot in bulk generation)."""
    old = a.nodes
    if phase == "Creating":
        return {"creating": dict(a.azs), "available": {}, "abnormal": {}, "deleting": {}}
    if phase in _KEEPS_NODES:
        if old["creating"] or old["available"] or old["abnormal"]:
            return {"creating": old["creating"], "available": old["available"], "abnormal": old["abnormal"],
                    "deleting": {}}
        return {"creating": {}, "available": dict(a.azs), "abnormal": {}, "deleting": {}}
    if phase == "Deleting":
        leaving: dict[str, int] = {}
        for counts in old.values():
            for az, c in counts.items():
                leaving[az] = leaving.get(az, 0) + c
        return {"creating": {}, "available": {}, "abnormal": {}, "deleting": leaving or dict(a.azs)}
    return {"creating": {}, "available": {}, "abnormal": {}, "deleting": {}}


def enter_phase(pool: PoolState, phase: str, rng: random.Random, tick: int) -> None:
    """Put nodes, scope states, drivers and message in line with a phase the pool enters."""
    pool.phase = phase
    pool.message = ""
    for a in pool.allocations:
        a.nodes = _nodes_for(phase, a)
    first = pool.allocations[0]
    zone = min(first.azs) if first.azs else pool.project.region
    state = "Enabled"
    if phase == "Creating":
        state = "Enabling"
        pool.message = "Creating the resource pool, please wait."
        pool.phase_until = tick + 1 + ri(rng, 3)
    elif phase == "Waiting":
        state = "Enabling"
        pool.message = "Waiting for the yearly/monthly order to be paid."
        pool.phase_until = tick + 1 + ri(rng, 4)
    elif phase == "Abnormal":
        for a in pool.allocations:
            a.move(rng, "available", "abnormal", max(1, (a.total("available") + 1) // 2))
        pool.message = f"{pool.node_total('abnormal')} node(s) are abnormal."
    elif phase == "Error":
        for a in pool.allocations:
            a.move(rng, "available", "abnormal", a.total("available"))
        pool.message = "The cluster is unavailable: the control plane does not respond."
        pool.phase_until = tick + 2 + ri(rng, 5)
    elif phase == "Deleting":
        state = "Disabling"
        pool.message = "Deleting the resource pool."
        pool.phase_until = tick + 1 + ri(rng, 3)
    elif phase == "CreationFailed":
        state = "EnableFailed"
        pool.message = f"Failed to create nodes: insufficient {first.flavor} capacity in {zone}."
        pool.phase_until = tick + 72  # failed pools are kept for 3 days
    elif phase == "ScalingFailed":
        pool.message = f"Failed to scale {first.flavor}: insufficient capacity in {zone}."
        pool.phase_until = tick + 2 + ri(rng, 5)
    pool.scope_states = {s: state for s in pool.scopes}
    if phase == "Running" and rng.random() < 0.05:
        pool.scope_states[pool.scopes[-1]] = ("Enabling", "Disabling", "Disabled")[ri(rng, 3)]
    for driver in (pool.gpu, pool.npu):
        if driver is not None and driver.state != "Upgrading":
            driver.state = {"Creating": "Creating", "Waiting": "Creating", "Error": "Abnormal",
                            "CreationFailed": "Abnormal"}.get(phase, "Running")
