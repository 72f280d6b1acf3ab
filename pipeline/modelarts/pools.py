"""Pure helpers over raw pool JSON (dicts as parsed from the wire; nothing is typed away).

The SDK's models drop data (reference section 3: an array where it expects an object becomes an empty
object, unknown keys vanish), so these helpers work on plain dicts, accept both documented shapes, and return
the original objects with every field they had.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

# The keys of status.resources, in lifecycle order.
RESOURCE_STATES = ("creating", "available", "abnormal", "deleting")


class PoolShapeError(ValueError):
    """A document does not have the shape the API documents (e.g. `items` is not a list)."""


class PoolItems(list):
    """The pools of a ListPools answer: a plain list, plus what the list-level `metadata` said.

    ListPools is documented as one page, but a 2024 doc revision had `metadata.continue`. If a server ever
    sends a non-empty one, `truncated` is True: the caller must record the listing as incomplete rather than
    take the missing pools for deleted ones.
    """

    continue_token: str | None = None
    remaining_item_count: int | None = None

    @property
    def truncated(self) -> bool:
        return bool(self.continue_token)


def pool_items(list_body: dict) -> PoolItems:
    """The `items` of a ListPools body, tolerating an optional list-level `metadata`.

    A missing `items` means no pools (the service omits empty fields). Anything that is not a list of objects
    raises PoolShapeError: a malformed listing must not pass for an empty project.
    """
    if not isinstance(list_body, dict):
        raise PoolShapeError(f"a pool list must be a JSON object, got {type(list_body).__name__}")
    raw = list_body.get("items")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise PoolShapeError(f"pool list 'items' must be an array, got {type(raw).__name__}")
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise PoolShapeError(f"pool list item {index} is not an object ({type(item).__name__})")
    items = PoolItems(raw)
    metadata = list_body.get("metadata")
    if isinstance(metadata, dict):
        token = metadata.get("continue")
        if token:
            items.continue_token = str(token)
            remaining = metadata.get("remainingItemCount")
            items.remaining_item_count = remaining if isinstance(remaining, int) else None
            logger.warning(
                "pool list carries metadata.continue (remainingItemCount=%s): ListPools is documented as a "
                "single page, so this listing is incomplete",
                items.remaining_item_count,
            )
    return items


def as_list(value: Any) -> list:
    """An array-or-object field as a list: docs send arrays where the SDK models a single object.

    None and an empty object give []; an object gives [object]; a list is returned as is.
    """
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value] if value else []
    raise PoolShapeError(f"expected an object or an array, got {type(value).__name__}")


def flavor_counts(pool: dict, state: str) -> list[dict]:
    """Entries of `status.resources.<state>` ({flavor, count, maxCount, azs, ...}, unknown keys kept).

    Accepts both shapes: an array of counts (the docs and every doc example) and a single count object (the
    SDK model). A pool without the state, or without status.resources at all, gives [].
    """
    if state not in RESOURCE_STATES:
        raise ValueError(f"state must be one of {', '.join(RESOURCE_STATES)}, got {state!r}")
    status = pool.get("status") if isinstance(pool, dict) else None
    resources = status.get("resources") if isinstance(status, dict) else None
    if resources is None:
        return []
    if not isinstance(resources, dict):
        raise PoolShapeError(f"status.resources must be an object, got {type(resources).__name__}")
    entries = as_list(resources.get(state))
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise PoolShapeError(f"status.resources.{state}[{index}] is not an object")
    return entries


def capacity(pool: dict) -> dict[str, list[dict]]:
    """flavor_counts for every state, e.g. {"available": [...], "creating": [], ...}."""
    return {state: flavor_counts(pool, state) for state in RESOURCE_STATES}


def pool_id(pool: dict) -> str | None:
    """`metadata.name`: the pool's ID, which is what ShowPool and the path parameters take."""
    metadata = pool.get("metadata") if isinstance(pool, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) and name else None
