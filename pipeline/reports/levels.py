"""capacity_utilization split into one table per level, for the exports: summing any column of any one of them
is right.

The catalog keeps one table with a `level` column (SQL users filter on it); a spreadsheet reader sums columns.
In one sheet the flavor, pool, project, region and total rows of the same node-hours overcount about 5x, and a
Logical sub-pool's nodes are also its parent's. So each export gets:
    capacity_total       one row per day: every physical pool
    capacity_by_region   one row per day x region
    capacity_by_project  one row per day x project
    capacity_by_pool     one row per day x physical pool
    capacity_by_flavor   one row per day x physical pool x flavor (accelerator type and cards beside it)
    capacity_sub_pools   one row per day x Logical sub-pool: carved out of its parent, NOT to be added to the
                         others (it is listed so a team can see its share)
Each keeps only the columns that mean something at its level (no all-NULL pool_id on a project sheet).
"""

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

SOURCE = "capacity_utilization"


@dataclass(frozen=True)
class Level:
    name: str
    title: str
    level: str  # the value of capacity_utilization.level
    physical: bool | None  # keep only physical pools (True), only sub-pools (False), or every row (None)
    drop: tuple[str, ...]  # columns that carry nothing at this level
    note: str  # what the rows are, and how they add up


_POOL_ONLY = ("pool_id", "display_name", "pool_type", "is_physical", "parent", "root")
_FLAVOR_ONLY = ("flavor", "accelerator", "accelerator_type", "accelerator_cards")
LEVELS: tuple[Level, ...] = (
    Level("capacity_total", "Capacity: total per day", "all", None,
          ("level", "region", "project_id", "project_name", *_POOL_ONLY, *_FLAVOR_ONLY),
          "One row per day: every physical pool (Logical sub-pools are inside their parents)."),
    Level("capacity_by_region", "Capacity per region", "region", None,
          ("level", "project_id", "project_name", *_POOL_ONLY, *_FLAVOR_ONLY),
          "One row per day and region, physical pools only: the regions of a day add up to capacity_total."),
    Level("capacity_by_project", "Capacity per project", "project", None,
          ("level", *_POOL_ONLY, *_FLAVOR_ONLY),
          "One row per day and project, physical pools only: the projects of a day add up to its region."),
    Level("capacity_by_pool", "Capacity per pool", "pool", True,
          ("level", "pools", "is_physical", "parent", "root", *_FLAVOR_ONLY),
          "One row per day and physical pool: the pools of a project add up to its row."),
    Level("capacity_by_flavor", "Capacity per pool and flavor", "flavor", True,
          ("level", "pools", "is_physical", "parent", "root"),
          "One row per day, physical pool and flavor: the flavors of a pool add up to its row."),
    Level("capacity_sub_pools", "Capacity of Logical sub-pools (already inside their parents)", "pool", False,
          ("level", "pools", "is_physical", *_FLAVOR_ONLY),
          "One row per day and Logical sub-pool. A sub-pool's nodes are carved out of its parent pool and are "
          "already counted there: do NOT add these rows to the other capacity tables."),
)
NAMES = tuple(lv.name for lv in LEVELS)


def split_levels(table: pa.Table) -> list[tuple[Level, pa.Table]]:
    """The rows of capacity_utilization per Level, each with its own columns (see LEVELS). A level without rows
    is still returned (empty, typed), so every export has the same files and sheets every day."""
    out = []
    for lv in LEVELS:
        mask = pc.equal(table["level"], lv.level)
        if lv.physical is not None:
            physical = pc.fill_null(table["is_physical"], True)
            mask = pc.and_(mask, physical if lv.physical else pc.invert(physical))
        rows = table.filter(mask)
        out.append((lv, rows.drop_columns([c for c in lv.drop if c in rows.column_names])))
    return out
