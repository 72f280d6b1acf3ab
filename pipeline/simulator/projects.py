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
    regions = check_regions(regions)
    return [project_info(seed, index, domain_id, regions) for index in range(count)]


def check_regions(regions: tuple[str, ...] | None) -> tuple[str, ...]:
    regions = tuple(regions or DEFAULT_REGIONS)
    unknown = [r for r in regions if r not in REGION_AZS]
    if unknown or not regions:
        raise ValueError(f"unknown region(s): {', '.join(unknown)}; known: {', '.join(REGION_AZS)}")
    return regions


def project_info(seed: int, index: int, domain_id: str, regions: tuple[str, ...]) -> ProjectInfo:
    """Project `index` alone: the same whatever the number of projects after it."""
    region = regions[index % len(regions)]
    ordinal = index // len(regions) + 1
    name = region if ordinal == 1 else f"{region}_team{ordinal:02d}"
    rng = random.Random(f"{seed}:project:{index}")
    return ProjectInfo(id=hex32(rng), name=name, region=region, domain_id=domain_id)
