"""Fetch one snapshot: every target concurrently, each outcome landed as soon as it completes.

Targets are independent; one client per endpoint gives each endpoint its own rate limit (the gateway limits
per API and per endpoint): with `fetch.rate_limit: auto` an `AdaptiveRate` per endpoint finds the gateway's
limit, starting from the rate the previous snapshot settled on (`read_rates`). A failed call is landed like a
successful one: failures are data.
"""

import asyncio
import logging
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb

from pipeline.config import ID_PATTERN as _PROJECT_ID, Config, Target, default_endpoint, default_iam_endpoint
from pipeline.land.landing import Attempt, CallRecord, RawLanding, TargetRef
from pipeline.modelarts import ApiResponse, Credentials, ModelArtsClient, ModelArtsError
from pipeline.modelarts.adaptive import AdaptiveRate, FixedRate
from pipeline.sqlfiles import sql_text
from pipeline.modelarts.body import Body, SpilledBody
from pipeline.modelarts.responses import parse_json_lenient
from pipeline.modelarts.errors import redact, truncate

OnCall = Callable[[CallRecord], None]
KnownPools = dict[tuple[str, str], dict[str, str]]
# family -> (region, project_id, pool_id) -> the latest time the lake holds for that pool (see read_cursors)
Cursors = dict[str, dict[tuple[str, str, str], datetime]]
ProjectKey = tuple[str, str, str]  # (region, endpoint, project_id)
log = logging.getLogger(__name__)


@dataclass
class FetchPlan:
    targets: list[Target]
    discovery_errors: list[CallRecord] = field(default_factory=list)
    # regions whose IAM project list discovery already landed in this snapshot: their names need no other call
    named_regions: set[str] = field(default_factory=set)


def _attempts(history) -> list[Attempt]:
    return [
        Attempt(
            attempt=h.attempt, started_at=h.started_at, duration_ms=h.duration_ms, http_status=h.status,
            reason=h.reason, error_code=h.error_code, request_id=h.request_id, body=h.body,
        )
        for h in history
    ]


class Fetcher:
    """Owns the clients of one snapshot run (one per endpoint), so connections are reused across targets."""

    def __init__(self, config: Config, credentials: Credentials, landing: RawLanding,
                 on_call: OnCall | None = None, on_attempt=None, known: KnownPools | None = None,
                 cursors: Cursors | None = None, rates: dict[str, float] | None = None):
        self.config = config
        # endpoint -> (the rate (req/s) the previous snapshot settled on, whether a 429 had measured the limit):
        # where this one's controller starts.
        self.start_rates: dict[str, tuple[float, bool]] = rates or {}
        self.pacers: dict[str, AdaptiveRate | FixedRate] = {}
        # (region, project_id) -> {pool_id: workspace_id}: what the lake knew before this snapshot.
        self.known_pools: KnownPools = known or {}
        self.cursors: Cursors = cursors or {}
        # Told how many planned calls the per-pool families add, once the pools are known (a progress bar grows).
        self.on_plan_more: Callable[[int], None] | None = None
        # The pools this snapshot read, per project: the only pools the per-pool calls may ask about.
        self.pools_read: dict[ProjectKey, set[str]] = {}
        # (region, endpoint) whose answers this snapshot showed a Logical pool in: their virtual flavors are read.
        self.logical_regions: set[tuple[str, str]] = set()
        self.credentials = credentials
        self.landing = landing
        self.on_call = on_call
        self.on_attempt = on_attempt
        self._clients: dict[tuple[str, str | None], ModelArtsClient] = {}

    def client(self, endpoint: str, iam_endpoint: str | None = None) -> ModelArtsClient:
        key = (endpoint, iam_endpoint)
        if key not in self._clients:
            f = self.config.fetch
            verify = str(f.ca_bundle) if f.ca_bundle else f.verify_tls
            self._clients[key] = ModelArtsClient(
                endpoint, self.credentials, iam_endpoint=iam_endpoint, concurrency=f.concurrency,
                rate=self.pacer(endpoint), timeout_s=f.timeout_s, max_attempts=f.max_attempts,
                max_total_s=f.max_total_s, verify=verify, on_attempt=self.on_attempt,
                max_body_bytes=f.max_body_mb << 20, spool_dir=self.landing.spool_dir,
            )
        return self._clients[key]

    def pacer(self, endpoint: str) -> AdaptiveRate | FixedRate:
        """The one pacer of an endpoint, shared by its clients (the gateway counts the access key's calls to
        it, whichever client makes them)."""
        if endpoint not in self.pacers:
            f = self.config.fetch
            if f.rate_limit == "auto":
                start, known = self.start_rates.get(endpoint, (None, False))
                self.pacers[endpoint] = AdaptiveRate(start, limit_known=known, max_concurrency=f.concurrency)
            else:
                self.pacers[endpoint] = FixedRate(f.rate_limit)
        return self.pacers[endpoint]

    def rate_stats(self) -> list[dict]:
        """Per endpoint: how it was paced, the rate it settled on and the 429s it met (run.json `rates`)."""
        return [{"endpoint": e, **p.stats()} for e, p in sorted(self.pacers.items())]

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self._clients.values()), return_exceptions=True)

    def _land(self, call: str, target: TargetRef, pool_id: str | None,
              result: ApiResponse | ModelArtsError, page: int = 0, reason: str | None = None) -> CallRecord:
        if isinstance(result, ApiResponse):
            attempts = _attempts(result.history)
            rec = self.landing.record(
                call=call, target=target, pool_id=pool_id, method=result.method, path=result.path,
                query=result.query, outcome="ok", error_msg=None, attempts=attempts, page=page, reason=reason,
            )
        else:
            rec = self.landing.record(
                call=call, target=target, pool_id=pool_id, method=result.method or "GET",
                path=result.path or "", query="", outcome="error",
                error_msg=result.error_msg or result.reason or type(result).__name__,
                attempts=_attempts(result.history) or [_no_response(result)], page=page,
            )
        if self.on_call:
            self.on_call(rec)
        return rec

    async def discover(self) -> FetchPlan:
        """The configured targets plus every enabled project of the `discover` regions (IAM /v3/projects)."""
        plan = FetchPlan(targets=list(self.config.targets))
        d = self.config.discover
        if d is None:
            return plan
        known = {(t.base_url, t.project_id) for t in plan.targets}
        for region in d.regions:
            iam = d.iam_endpoint or default_iam_endpoint(region)
            endpoint = d.endpoint or default_endpoint(region)
            ref = TargetRef(region=region, project_id="", endpoint=iam)
            try:
                resp = await self.client(endpoint, iam).list_projects()
            except ModelArtsError as exc:
                plan.discovery_errors.append(self._land("list_projects", ref, None, exc))
                continue
            self._land("list_projects", ref, None, resp)
            plan.named_regions.add(region)
            try:
                projects = resp.json().get("projects") or []
            except (ValueError, AttributeError):
                projects = []
            if not isinstance(projects, list):
                projects = []
            for p in projects:
                if not isinstance(p, dict) or p.get("enabled") is False:
                    continue
                name, pid = str(p.get("name", "")), str(p.get("id", ""))
                if not pid or not (name == region or name.startswith(region + "_")):
                    continue
                if not _PROJECT_ID.fullmatch(pid):
                    # IAM's answer is input like any other: an id that could not be a project (a path, a
                    # control character) is skipped and recorded, and the other projects are fetched.
                    plan.discovery_errors.append(self._skipped(
                        "list_projects", ref, "invalid_project_id",
                        f"IAM listed project {truncate(ascii(pid), 200)} ({truncate(ascii(name), 100)}), "
                        "which is not a valid project id: skipped"))
                    continue
                if (endpoint, pid) in known:
                    continue
                known.add((endpoint, pid))
                plan.targets.append(Target(region=region, project_id=pid, endpoint=endpoint))
        return plan

    async def fetch_target(self, target: Target) -> list[CallRecord]:
        client = self.client(target.base_url)
        ref = TargetRef(target.region, target.project_id, target.base_url, target.workspace_id,
                        target.label_selector, target.status)
        key = (target.region, target.base_url, target.project_id)
        if target.pools:
            shown = await self._show_pools(client, ref, target.pools, (target.region, target.base_url))
            self.pools_read.setdefault(key, set()).update(r.pool_id for r in shown if r.outcome == "ok")
            return shown
        try:
            result = await client.list_pools(
                target.project_id, workspace_id=target.workspace_id,
                label_selector=target.label_selector, status=target.status,
            )
        except ModelArtsError as exc:
            result = exc
            return [self._land("list_pools", ref, None, result)]
        if _mentions_logical(result.body):
            self.logical_regions.add((target.region, target.base_url))
        confirms = await self._confirm_vanished(client, target, ref, result)
        listed = _listed_pool_ids(result) or set()
        self.pools_read.setdefault(key, set()).update(listed | {c.pool_id for c in confirms if c.outcome == "ok"})
        # Landed after its confirmations: a pool that a ShowPool found makes the listing's row incomplete_listing.
        incomplete = any(c.outcome == "ok" for c in confirms)
        listing = self._land("list_pools", ref, None, result, reason="incomplete_listing" if incomplete else None)
        return [listing, *confirms]

    async def _confirm_vanished(self, client: ModelArtsClient, target: Target, ref: TargetRef,
                                listing: ApiResponse) -> list[CallRecord]:
        """ShowPool, in this snapshot, each known pool that a covering listing did not return.

        A listing alone never proves a deletion (a gateway or backend glitch can answer `{"items": []}`):
        404 ModelArts.50015001 confirms it, a 200 shows the listing was wrong (the pool is observed from that
        answer), any other error leaves the pool unobserved. Only listings that would have returned the pool
        are compared (no label or status filter; a workspace filter covers that workspace's pools), and only
        pools the lake knows: a pool never seen is never asked for. The confirmations are `show_pool` rows
        with the pool's id.
        """
        if target.label_selector or target.status:
            return []
        expected = {pool for pool, workspace in self.known_pools.get((target.region, target.project_id), {}).items()
                    if target.workspace_id is None or workspace == target.workspace_id}
        if not expected:
            return []
        listed = _listed_pool_ids(listing)
        if listed is None:
            return []  # unreadable here: normalize rejects what it cannot read, and nothing is inferred
        return await self._show_pools(client, ref, sorted(expected - listed), (target.region, target.base_url))

    async def _show_pools(self, client: ModelArtsClient, ref: TargetRef, names: list[str],
                          region_key: tuple[str, str]) -> list[CallRecord]:
        """ShowPool each named pool concurrently; each answer (or error) is landed as a show_pool row."""
        async def show(name: str) -> CallRecord:
            try:
                result = await client.show_pool(ref.project_id, name)
            except ModelArtsError as exc:
                result = exc
            else:
                if _mentions_logical(result.body):
                    self.logical_regions.add(region_key)
            return self._land("show_pool", ref, name, result)
        return list(await asyncio.gather(*(show(n) for n in names)))

    async def fetch_flavors(self, region: str, endpoint: str, project_id: str) -> list[CallRecord]:
        """The flavor catalog, once per region and endpoint: it describes the region's flavors, the same for
        every project in it, so asking each project would only double the calls of a snapshot."""
        client = self.client(endpoint)
        ref = TargetRef(region, project_id, endpoint)
        try:
            pages = await client.list_resource_flavors(project_id)
        except ModelArtsError as exc:
            done = [self._land("list_resource_flavors", ref, None, p, page=i) for i, p in enumerate(exc.pages)]
            return done + [self._land("list_resource_flavors", ref, None, exc, page=len(exc.pages))]
        return [self._land("list_resource_flavors", ref, None, p, page=i) for i, p in enumerate(pages)]

    async def fetch_virtual_flavors(self, region: str, endpoint: str, project_id: str) -> list[CallRecord]:
        """The virtual flavors of Logical pools (GET /v1/{project_id}/virtualresourceflavors), once per region and
        endpoint, beside the flavor catalog and through the same project; landed as
        `list_virtual_resource_flavors` calls (one per page)."""
        client = self.client(endpoint)
        ref = TargetRef(region, project_id, endpoint)
        call = "list_virtual_resource_flavors"
        try:
            pages = await client.list_virtual_resource_flavors(project_id)
        except ModelArtsError as exc:
            done = [self._land(call, ref, None, p, page=i) for i, p in enumerate(exc.pages)]
            return done + [self._land(call, ref, None, exc, page=len(exc.pages))]
        return [self._land(call, ref, None, p, page=i) for i, p in enumerate(pages)]

    async def _guarded(self, call: str, ref: TargetRef, work) -> list[CallRecord]:
        """Safety net: an unexpected exception while fetching one target is that call's error row (reason
        client_error), never the end of the snapshot. Its message is masked like any other."""
        try:
            return await work
        except OSError:
            # Local storage (the landing, a spool file), not the API: a full or broken disk is the run's
            # problem, which the caller reports as such (nothing committed), not one call's.
            raise
        except Exception as exc:  # noqa: BLE001 -- whatever it is, the other targets go on
            secrets = self.credentials.secrets()
            # The traceback is worth having, but exception texts can carry anything: masked like the rest.
            log.error("%s for %s/%s failed inside the client: %s", call, ref.region, ref.project_id,
                      redact("".join(traceback.format_exception(exc)), secrets))
            text = truncate(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, 300)
            return [self._skipped(call, ref, "client_error",
                                  redact(f"unexpected client failure: {text}", secrets))]

    def _skipped(self, call: str, ref: TargetRef, reason: str, message: str) -> CallRecord:
        """An error fetch row for work that got no HTTP answer of its own: a safety-net catch, or an input
        that was refused before any call."""
        now = datetime.now(timezone.utc)
        rec = self.landing.record(
            call=call, target=ref, pool_id=None, method="GET", path="", query="", outcome="error",
            error_msg=message, attempts=[Attempt(1, now, 0.0, None, reason, None, None, b"")],
        )
        if self.on_call:
            self.on_call(rec)
        return rec

    async def fetch_project_names(self, targets: list[Target], named: set[str]) -> list[CallRecord]:
        """IAM GET /v3/projects once per region of the targets that discovery did not list (`named`): the names
        of the projects (table projects), landed as `project_names` calls. Their failure costs the names only:
        it makes no target unreadable and no snapshot partial.

        IAM of a region: https://iam.<region>.myhuaweicloud.com, or the target's own endpoint when it has one
        (the simulator, a private gateway: it serves IAM on the same base URL).
        """
        regions: dict[str, tuple[str, str]] = {}
        for t in targets:
            if t.region not in named and t.region not in regions:
                regions[t.region] = (t.base_url, t.endpoint or default_iam_endpoint(t.region))

        async def lookup(region: str, endpoint: str, iam: str) -> list[CallRecord]:
            ref = TargetRef(region=region, project_id="", endpoint=iam)
            try:
                result = await self.client(endpoint, iam).list_projects()
            except ModelArtsError as exc:
                result = exc
            return [self._land("project_names", ref, None, result)]

        done = await asyncio.gather(*(
            self._guarded("project_names", TargetRef(region=r, project_id="", endpoint=iam), lookup(r, e, iam))
            for r, (e, iam) in regions.items()))
        return [rec for recs in done for rec in recs]

    async def fetch_runtime_metrics(self, region: str, endpoint: str, project_id: str) -> list[CallRecord]:
        """ShowPoolRuntimeMetrics of one project: every pool's allocation and queue in one answer."""
        ref = TargetRef(region, project_id, endpoint)
        try:
            result = await self.client(endpoint).show_pool_runtime_metrics(project_id)
        except ModelArtsError as exc:
            result = exc
        return [self._land("runtime_metrics", ref, None, result)]

    async def fetch_pool_nodes(self, ref: TargetRef, pool_id: str) -> list[CallRecord]:
        """ListPoolNodes of one pool, every page (the service is said to answer in one; metadata.continue is
        followed whenever a page carries one). Landed as `pool_nodes` calls with the pool's id."""
        client = self.client(ref.endpoint)
        try:
            pages = await client.list_pool_nodes(ref.project_id, pool_id)
        except ModelArtsError as exc:
            done = [self._land("pool_nodes", ref, pool_id, p, page=i) for i, p in enumerate(exc.pages)]
            return done + [self._land("pool_nodes", ref, pool_id, exc, page=len(exc.pages))]
        return [self._land("pool_nodes", ref, pool_id, p, page=i) for i, p in enumerate(pages)]

    async def fetch_workload_statistics(self, ref: TargetRef, pool_id: str) -> list[CallRecord]:
        """ShowWorkloadStatistics of one pool (one answer, no paging), landed as a `workload_statistics` call
        with the pool's id."""
        try:
            result = await self.client(ref.endpoint).show_workload_statistics(ref.project_id, pool_id)
        except ModelArtsError as exc:
            result = exc
        return [self._land("workload_statistics", ref, pool_id, result)]

    async def fetch_pool_events(self, ref: TargetRef, pool_id: str) -> list[CallRecord]:
        """ListEvents of one pool, every page, landed as `pool_events` calls with the pool's id.

        Asks only for what the lake does not hold yet: `since` is the second of the latest event stored for the
        pool (cursor pool_events, sql/history/_cursor_pool_events.sql), asked again from that very second so
        that an event updated since (a repeat: its count and lastTimestamp grow) comes back refreshed; the
        catalog keeps one row per event (pipeline/catalog/views.py), so the overlap never duplicates. No
        cursor (a pool never asked, a young lake): no `since`, everything the service keeps."""
        cursor = self.cursors.get("pool_events", {}).get((ref.region, ref.project_id, pool_id))
        since = int(cursor.timestamp()) if cursor is not None else None
        client = self.client(ref.endpoint)
        try:
            pages = await client.list_events(ref.project_id, pool_id, since=since)
        except ModelArtsError as exc:
            done = [self._land("pool_events", ref, pool_id, p, page=i) for i, p in enumerate(exc.pages)]
            return done + [self._land("pool_events", ref, pool_id, exc, page=len(exc.pages))]
        return [self._land("pool_events", ref, pool_id, p, page=i) for i, p in enumerate(pages)]

    def monitor_window(self, ref: TargetRef, pool_id: str) -> tuple[datetime, datetime] | None:
        """The [start, end) a pool's ShowPoolMonitor asks for, or None when it is empty.

        The end is the snapshot time rounded down to the hour: hourly points are whole hours. The start is the
        pool's cursor (the latest point the lake holds, on the hour): asked again, so that a point the service
        had only partly aggregated is refreshed (the catalog keeps the latest snapshot's value of a point). A
        pool without a cursor, or whose cursor is older than that, starts `collect.monitor_backfill_days` before
        the end: 60 days x 24 h = 1,440 hourly points, the service's limit (durationMin * 60 / period =
        86,400 * 60 / 3,600 = 1,440), so no call ever asks for more.
        """
        end = self.landing.snapshot_at.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
        start = end - timedelta(days=self.config.collect.monitor_backfill_days)
        cursor = self.cursors.get("pool_monitor", {}).get((ref.region, ref.project_id, pool_id))
        if cursor is not None:
            start = max(start, cursor.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0))
        return (start, end) if start < end else None

    async def fetch_pool_monitor(self, ref: TargetRef, pool_id: str) -> list[CallRecord]:
        """ShowPoolMonitor of one pool at period=3600: two calls, the hourly average (landed as page 0) and the
        hourly maximum (page 1), both `pool_monitor` calls with the pool's id (one family: one switch, one
        cursor, one window; the statistic of an answer is in its body, so normalize needs no page number). No
        call when the window is empty: the lake's points already reach the snapshot's hour (a snapshot dated
        before the latest one)."""
        window = self.monitor_window(ref, pool_id)
        if window is None:
            if self.on_plan_more:
                self.on_plan_more(-1)  # planned with the pools, not made
            return []
        start, end = window
        client = self.client(ref.endpoint)

        async def ask(page: int, statistic: str) -> CallRecord:
            try:
                result = await client.show_pool_monitor(ref.project_id, pool_id, start=start, end=end,
                                                        period=MONITOR_PERIOD_S, statistics=statistic)
            except ModelArtsError as exc:
                result = exc
            return self._land("pool_monitor", ref, pool_id, result, page=page)
        return list(await asyncio.gather(*(ask(i, s) for i, s in enumerate(MONITOR_STATISTICS))))

    def per_pool_families(self) -> list[tuple[str, Callable]]:
        """The per-pool call families switched on in `collect:`, as (call name, fetch method(ref, pool_id))."""
        c = self.config.collect
        families = [("pool_nodes", c.pool_nodes, self.fetch_pool_nodes),
                    ("workload_statistics", c.workload_statistics, self.fetch_workload_statistics),
                    ("pool_events", c.pool_events, self.fetch_pool_events),
                    ("pool_monitor", c.pool_monitor, self.fetch_pool_monitor)]
        return [(call, fetch) for call, on, fetch in families if on]

    async def fetch_per_pool(self) -> list[CallRecord]:
        """Every enabled per-pool family for every pool this snapshot read (never a pool it did not read)."""
        if self.on_plan_more:
            pools = sum(len(p) for p in self.pools_read.values())
            self.on_plan_more(pools * len(self.per_pool_families()))
        work = [
            self._guarded(call, TargetRef(region, pid, endpoint), fetch(TargetRef(region, pid, endpoint), pool))
            for call, fetch in self.per_pool_families()
            for (region, endpoint, pid), pools in sorted(self.pools_read.items())
            for pool in sorted(pools)
        ]
        done = await asyncio.gather(*work)
        return [rec for recs in done for rec in recs]

    async def fetch_all(self, targets: list[Target], flavors: bool = True) -> list[CallRecord]:
        results = await asyncio.gather(*(
            self._guarded("show_pool" if t.pools else "list_pools", _ref(t), self.fetch_target(t))
            for t in targets))
        records = [rec for recs in results for rec in recs]
        if flavors:
            # Through a project whose listing just worked, so that the credential can read it.
            readable: dict[tuple[str, str], str] = {}
            for t, recs in zip(targets, results):
                if all(r.outcome == "ok" or _confirmed_gone(r) for r in recs):
                    readable.setdefault((t.region, t.base_url), t.project_id)
            catalog = [self._guarded("list_resource_flavors", TargetRef(region, pid, endpoint),
                                     self.fetch_flavors(region, endpoint, pid))
                       for (region, endpoint), pid in readable.items()]
            # Virtual flavors only serve Logical pools: asked where this snapshot saw one (1 call per such region).
            catalog += [self._guarded("list_virtual_resource_flavors", TargetRef(region, pid, endpoint),
                                      self.fetch_virtual_flavors(region, endpoint, pid))
                        for (region, endpoint), pid in readable.items() if (region, endpoint) in self.logical_regions]
            more = await asyncio.gather(*catalog)
            records += [rec for recs in more for rec in recs]
        if self.config.collect.runtime_metrics:
            # Once per project whose pools were read: a project the listing could not read has nothing to add.
            listed = {(t.region, t.base_url, t.project_id) for t, recs in zip(targets, results)
                      if not t.pools and recs and recs[0].call == "list_pools" and recs[0].outcome == "ok"}
            more = await asyncio.gather(*(
                self._guarded("runtime_metrics", TargetRef(region, pid, endpoint),
                              self.fetch_runtime_metrics(region, endpoint, pid))
                for region, endpoint, pid in sorted(listed)))
            records += [rec for recs in more for rec in recs]
        records += await self.fetch_per_pool()
        return records


# Calls that a progress count leaves out: one-off lookups beside the pools, and later pages of a paged call.
_UNPLANNED = frozenset({"list_resource_flavors", "list_virtual_resource_flavors", "project_names", "list_projects",
                        "runtime_metrics"})


def planned(rec: CallRecord) -> bool:
    """Whether a landed call counts toward the planned total (a target's call or a per-pool call's first page)."""
    return rec.call not in _UNPLANNED and rec.page == 0


def _ref(target: Target) -> TargetRef:
    return TargetRef(target.region, target.project_id, target.base_url, target.workspace_id,
                     target.label_selector, target.status)


def _no_response(exc: ModelArtsError) -> Attempt:
    from datetime import datetime, timezone

    return Attempt(1, datetime.now(timezone.utc), 0.0, exc.status, exc.reason or "error", exc.error_code,
                   exc.request_id, b"")


def known_pools(catalog: Path) -> KnownPools:
    """The pools each project is known to have before a snapshot (sql/history/_known_pools.sql), from the
    catalog. None yet (a first snapshot, an empty lake): nothing to confirm.

    It reads every pool observation of the lake (a few columns of `pools`, and `fetches`' 404s), so its cost
    grows with the lake's age."""
    if not catalog.exists():
        return {}
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        rows = con.sql(sql_text("history", "_known_pools")).fetchall()
    except duckdb.CatalogException:  # a catalog without pools or fetches: nothing committed yet
        return {}
    finally:
        con.close()
    out: KnownPools = {}
    for region, project_id, pool_id, workspace_id in rows:
        out.setdefault((region, project_id), {})[pool_id] = workspace_id
    return out


def read_cursors(catalog: Path) -> Cursors:
    """Per per-pool family, the latest time the lake holds for each pool, so that the next call asks only for
    what came after it: sql/history/_cursor_<family>.sql, each giving (region, project_id, pool_id, at). A
    family whose table the catalog does not have yet has no cursor (its first call backfills)."""
    out: Cursors = {}
    if not catalog.exists():
        return out
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        for family in CURSOR_FAMILIES:
            try:
                rows = con.sql(sql_text("history", f"_cursor_{family}")).fetchall()
            except duckdb.CatalogException:
                continue
            out[family] = {(r, p, pool): at for r, p, pool, at in rows if at is not None}
    finally:
        con.close()
    return out


def read_rates(catalog: Path) -> dict[str, tuple[float, bool]]:
    """Per endpoint, the rate the latest snapshot that paced it automatically settled on, and whether a 429 had
    measured the gateway's limit (sql/history/_rate_start.sql): where the next snapshot's controller starts. None stored (a young lake, a
    lake landed before rates were recorded): the controller starts from its conservative default."""
    if not catalog.exists():
        return {}
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        rows = con.sql(sql_text("history", "_rate_start")).fetchall()
    except (duckdb.CatalogException, duckdb.BinderException):  # no snapshots yet, or none with rates
        return {}
    finally:
        con.close()
    return {endpoint: (float(rps), bool(known)) for endpoint, rps, known in rows if endpoint and rps}


CURSOR_FAMILIES: tuple[str, ...] = ("pool_events", "pool_monitor")
# ShowPoolMonitor as a snapshot asks for it: hourly points, average (page 0) then maximum (page 1).
MONITOR_PERIOD_S = 3600
MONITOR_STATISTICS = ("average", "maximum")


def _listed_pool_ids(listing: ApiResponse) -> set[str] | None:
    """The pool ids (metadata.name) of a listing's items; None when the body cannot be read here (then no
    absence is inferred from it: normalize rejects what it cannot read)."""
    try:
        doc = parse_json_lenient(listing.body)
    except ValueError:
        return None
    items = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return None
    names = set()
    for item in items:
        meta = item.get("metadata") if isinstance(item, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str):
            return None  # an item without a readable name could be any pool
        names.add(name)
    return names


# A pool document's `"type": "Logical"` (spec.type), white space allowed around the colon.
_LOGICAL_TYPE = re.compile(rb'"type"\s*:\s*"Logical"')


def _mentions_logical(body: Body) -> bool:
    """Whether an answer holds a Logical pool's type, read from the bytes without parsing them (a listing can be
    large). A false positive (the text inside some other value) costs one virtual flavor call, never data."""
    if isinstance(body, SpilledBody):
        tail = b""
        for chunk in body.chunks():
            if _LOGICAL_TYPE.search(tail + chunk):
                return True
            tail = chunk[-64:]
        return False
    return _LOGICAL_TYPE.search(body) is not None


def _confirmed_gone(rec: CallRecord) -> bool:
    """A ShowPool answered "pool not found": an answer about the pool, not a failure of the project's access."""
    return rec.call == "show_pool" and rec.http_status == 404 and rec.error_code == "ModelArts.50015001"
