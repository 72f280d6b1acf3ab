"""Step land: fetch every target and seal the raw set (pipeline/flow.py runs it). `prepare_write` opens a
write (debris of crashed runs, free space); `read_run` reads a sealed set's run record."""

import asyncio
import json
import os
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path

from pipeline.config import Config
from pipeline.land.fetch import Fetcher, known_pools, read_cursors, read_rates
from pipeline.land.landing import CallRecord, RawLanding
from pipeline.lake.layout import Layout, snapshot_id_for
from pipeline.lake.space import check_free_space
from pipeline.lake.store import clean_debris
from pipeline.modelarts import Credentials
from pipeline.modelarts.credentials import AkSkCredentials, TokenCredentials

OnCall = Callable[[CallRecord], None]


def load_credentials(config: Config, environ: Mapping[str, str] | None = None) -> Credentials:
    env = os.environ if environ is None else environ
    if config.credentials.method == "token":
        return TokenCredentials.from_env(env)
    return AkSkCredentials.from_env(env)


def read_run(raw_dir: Path) -> dict:
    try:
        return json.loads((raw_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


async def _fetch(config: Config, credentials: Credentials, landing: RawLanding, on_call: OnCall | None,
                 on_plan: Callable[[int], None] | None) -> tuple[list[dict], list[dict]]:
    # What the lake already knows, read before fetching: a pool missing from a listing is confirmed in this run.
    catalog = config.layout().catalog
    fetcher = Fetcher(config, credentials, landing, on_call=on_call, known=known_pools(catalog),
                      cursors=read_cursors(catalog), rates=read_rates(catalog))
    try:
        plan = await fetcher.discover()
        if on_plan:
            total = sum(len(t.pools) if t.pools else 1 for t in plan.targets)
            on_plan(total)

            def more(n: int) -> None:  # the per-pool calls, once the listings told how many pools there are
                nonlocal total
                total += n
                on_plan(total)
            fetcher.on_plan_more = more
        # The names ride along with the pools: one IAM call per region, in the same time.
        names = fetcher.fetch_project_names(plan.targets, plan.named_regions) if config.fetch.project_names \
            else asyncio.sleep(0)
        await asyncio.gather(fetcher.fetch_all(plan.targets), names)
        targets = [
            {"region": t.region, "project_id": t.project_id, "endpoint": t.base_url,
             "workspace_id": t.workspace_id}
            for t in plan.targets
        ]
        return targets, fetcher.rate_stats()
    finally:
        await fetcher.aclose()


def land(config: Config, credentials: Credentials, snapshot_at: datetime | None = None,
         on_call: OnCall | None = None, on_plan: Callable[[int], None] | None = None,
         region: str | None = None) -> tuple[str, Path]:
    """Fetch every target (of `region` only, when given: that region's part of the snapshot) and seal the raw
    set. Returns (snapshot_id, raw_dir)."""
    if region is not None:
        config = config.for_region(region)
    moment = (snapshot_at or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    snapshot_id = snapshot_id_for(moment)
    layout = config.layout()
    landing = RawLanding(layout, snapshot_id, moment, secrets=credentials.secrets())
    try:
        targets, rates = asyncio.run(_fetch(config, credentials, landing, on_call, on_plan))
    except BaseException:
        landing.abandon()
        raise
    # rates: per endpoint, the pace and the 429s met (normalize puts them in table snapshots).
    return snapshot_id, landing.seal({"targets": targets, "rates": rates, **({"region": region} if region else {})})


def prepare_write(layout: Layout, config: Config) -> None:
    """The start of a write, under the writer lock: remove crashed runs' debris, then check the free space
    (debris first: a crashed run's leftovers would count against it). Raises StorageFullError."""
    clean_debris(layout)
    check_free_space(layout.root, config.storage.min_free_mb)
    if layout.in_bucket and not layout.catalog.exists():
        # A new work folder (a pod's empty disk): the fetch starts from what the lake knows (known pools, cursors,
        # the gateway's rates), which it reads from the catalog.
        from pipeline.lake.commit import refresh_catalog

        if layout.tables().open("snapshots") is not None:
            refresh_catalog(layout)
