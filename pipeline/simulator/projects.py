"""IAM projects of the simulated account: ids, names and regions, derived from the seed alone."""

import random
from dataclasses import dataclass

from pipeline.simulator.catalog import DEFAULT_REGIONS, REGION_AZS


@dataclass(frozen=True)
class ProjectInfo:
    id: str
    name: str
    region: str
    domain_id: str
    forbidden: bool = False


def hex32(rng: random.Random) -> str:
    return "%032x" % rng.getrandbits(128)


def make_projects(seed: int, count: int, domain_id: str, regions: tuple[str, ...] | None = None) -> list[ProjectInfo]:
    """Round-robin over the regions; the first project of a region is named after it, as IAM does for the
    region's default project, later ones are sub-projects `<region>_teamNN`."""
    regions = tuple(regions or DEFAULT_REGIONS)
    unknown = [r for r in regions if r not in REGION_AZS]
    if unknown:
        raise ValueError(f"unknown region(s): {', '.join(unknown)}; known: {', '.join(REGION_AZS)}")
    seen: dict[str, int] = {}
    projects = []
    for index in range(count):
        region = regions[index % len(regions)]
        seen[region] = seen.get(region, 0) + 1
        name = region if seen[region] == 1 else f"{region}_team{seen[region]:02d}"
        rng = random.Random(f"{seed}:project:{index}")
        projects.append(ProjectInfo(id=hex32(rng), name=name, region=region, domain_id=domain_id))
    return projects
