"""The simulated API, independent of HTTP plumbing: a request in, a reply (plus transport directives) out.

Order of checks, as the gateway applies them: route (unknown API: 404 APIGW.0101, before any auth), then
credential (401), then project ownership and token scope (403), then faults and throttling, then the
service itself.
"""

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from pipeline.simulator import errors
from pipeline.simulator.auth import Authenticator, Identity
from pipeline.simulator.events import EVENT_TYPES
from pipeline.simulator.faults import LISTING_GLITCHES, Decision, FaultEngine
from pipeline.simulator.fleet import Fleet
from pipeline.simulator.iam import IamError, PasswordAuth, list_projects
from pipeline.simulator.monitor import pool_monitor
from pipeline.simulator.query import MAX_LIMIT, page, parse_limit, parse_query, parse_selector
from pipeline.simulator.runtime import runtime_metrics
from pipeline.simulator.workloads import workload_statistics

_STATUS_FILTER = {
    "created": frozenset({"Running", "Abnormal", "Error", "ScalingFailed"}),
    "creating": frozenset({"Creating", "Waiting"}),
    "failed": frozenset({"CreationFailed"}),
}


@dataclass
class Request:
    method: str
    target: str  # raw request target: path and query exactly as received
    headers: Mapping[str, str]
    body: bytes = b""
    client: str = "127.0.0.1"


@dataclass
class Reply:
    status: int
    body: bytes
    request_id: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    error_code: str | None = None
    fault: str | None = None
    retry_after: float | None = None
    delay_s: float = 0.0  # hold the answer this long (latency, stall)
    reset: bool = False  # drop the connection with a RST instead of answering
    truncate: bool = False  # send only the first half of the body, with a Content-Length to match


@dataclass(frozen=True)
class RequestRecord:
    t: float  # time.monotonic() when the request was decided
    method: str
    path: str
    query: str
    ak: str | None
    project_id: str | None
    status: int  # 0 when the connection was reset instead of answered
    error_code: str | None
    request_id: str
    fault: str | None
    retry_after: float | None


@dataclass(frozen=True)
class _Route:
    name: str
    pattern: re.Pattern
    method: str
    authenticated: bool = True


_ROUTES = (
    _Route("list_pools", re.compile(r"^/v2/(?P<pid>[^/]+)/pools/?$"), "GET"),
    _Route("show_pool", re.compile(r"^/v2/(?P<pid>[^/]+)/pools/(?P<pool>[^/]+)/?$"), "GET"),
    _Route("list_nodes", re.compile(r"^/v2/(?P<pid>[^/]+)/pools/(?P<pool>[^/]+)/nodes/?$"), "GET"),
    _Route("pool_monitor", re.compile(r"^/v2/(?P<pid>[^/]+)/pools/(?P<pool>[^/]+)/monitor/?$"), "GET"),
    _Route("list_flavors", re.compile(r"^/v1/(?P<pid>[^/]+)/resourceflavors/?$"), "GET"),
    _Route("list_virtual_flavors", re.compile(r"^/v1/(?P<pid>[^/]+)/virtualresourceflavors/?$"), "GET"),
    _Route("workload_statistics",
           re.compile(r"^/v2/(?P<pid>[^/]+)/statistics/pools/(?P<pool>[^/]+)/workloads/?$"), "GET"),
    _Route("list_events", re.compile(r"^/v1/(?P<pid>[^/]+)/events/?$"), "GET"),
    _Route("runtime_metrics", re.compile(r"^/v2/(?P<pid>[^/]+)/metrics/runtime/pools/?$"), "GET"),
    _Route("iam_projects", re.compile(r"^/v3/projects/?$"), "GET"),
    _Route("iam_tokens", re.compile(r"^/v3/auth/tokens/?$"), "POST", authenticated=False),
)


def encode_json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def new_request_id() -> str:
    return uuid.uuid4().hex


class Api:
    def __init__(self, fleet: Fleet, auth: Authenticator, passwords: PasswordAuth, faults: FaultEngine,
                 record: Callable[[RequestRecord], None], control: Callable[[Request, str, dict], tuple[int, dict]],
                 node_page_size: int = MAX_LIMIT, events_page_size: int = MAX_LIMIT):
        self.fleet = fleet
        # ListPoolNodes' page size when the request sends no limit: the service is said to answer every node in
        # one page (reference section 4); a smaller one makes a client meet metadata.continue.
        self.node_page_size = node_page_size
        self.auth = auth
        self.passwords = passwords
        self.faults = faults
        self._record = record
        self._control = control
        self.base_url = ""
        self.events_page_size = events_page_size  # ListEvents: the most items a page holds, whatever the limit

    def handle(self, req: Request) -> Reply:
        request_id = new_request_id()
        path, _, raw_query = req.target.partition("?")
        if path.startswith("/_simulator/"):
            status, body = self._control(req, path, parse_query(raw_query))
            return Reply(status, encode_json(body), request_id)
        started = time.monotonic()
        project_id = None
        try:
            route, params = self._match(req.method, unquote(path))
            project_id = params.get("pid")
            identity = None
            if route.authenticated:
                identity = self.auth.authenticate(req.method, path, raw_query, req.headers, req.body)
            if project_id is not None:
                self._authorize(identity, project_id)
            decision = self.faults.decide(path, project_id, identity.key if identity else None)
            reply = self._serve(route, params, req, raw_query, request_id, decision)
        except errors.ApiError as e:
            reply = self._error(e, request_id)
        self._record(RequestRecord(
            t=started, method=req.method, path=path, query=raw_query, ak=self.auth.claimed_ak(req.headers),
            project_id=project_id, status=0 if reply.reset else reply.status, error_code=reply.error_code,
            request_id=request_id, fault=reply.fault, retry_after=reply.retry_after,
        ))
        return reply

    # -- routing and authorization --------------------------------------------------------------------

    @staticmethod
    def _match(method: str, path: str) -> tuple[_Route, dict[str, str]]:
        wrong_method = False
        for route in _ROUTES:
            m = route.pattern.match(path)
            if m:
                if route.method == method:
                    return route, m.groupdict()
                wrong_method = True
        raise errors.no_such_api(wrong_method)

    def _authorize(self, identity: Identity | None, project_id: str) -> None:
        if identity is not None and (identity.domain_token or (
                identity.token_project is not None and identity.token_project != project_id)):
            raise errors.token_project_mismatch()
        project = self.fleet.project(project_id)
        if project is None or project.forbidden:
            raise errors.forbidden()

    # -- faults, then the service --------------------------------------------------------------------------

    def _serve(self, route: _Route, params: dict, req: Request, raw_query: str, request_id: str,
               d: Decision) -> Reply:
        if d.fault == "reset":
            return Reply(0, b"", request_id, fault="reset", reset=True)
        if d.fault == "throttle":
            reply = self._error(errors.throttled(d.limit), request_id)
            if d.retry_after_s is not None:
                reply.headers.append(("Retry-After", str(int(d.retry_after_s))))
                reply.retry_after = d.retry_after_s
        elif d.fault == "forbidden":
            reply = self._error(errors.forbidden(), request_id)
        elif d.fault == "not_found":
            reply = self._error(errors.pool_not_found(), request_id)
        elif d.fault == "error":
            reply = self._error(errors.server_error(d.status or 500), request_id)
        else:
            try:
                reply = self._dispatch(route, params, req, raw_query, request_id)
            except errors.ApiError as e:
                reply = self._error(e, request_id)
            reply.truncate = d.fault == "truncate" and reply.status == 200
            if d.fault in LISTING_GLITCHES and route.name == "list_pools" and reply.status == 200:
                reply.body = _glitched(reply.body, d.fault)
        reply.fault = d.fault
        reply.delay_s = d.delay_s
        return reply

    def _error(self, e: errors.ApiError, request_id: str) -> Reply:
        return Reply(e.status, encode_json(e.body(request_id)), request_id, error_code=e.code)

    def _dispatch(self, route: _Route, params: dict, req: Request, raw_query: str, request_id: str) -> Reply:
        query = parse_query(raw_query)
        pid = params.get("pid", "")
        if route.name == "list_pools":
            body = {"apiVersion": "v2", "kind": "PoolList", "items": self._list_pools(pid, query)}
        elif route.name == "show_pool":
            body = self.fleet.pool(pid, params["pool"])
            if body is None:
                raise errors.pool_not_found()
        elif route.name == "list_nodes":
            nodes = self.fleet.nodes(pid, params["pool"])
            if nodes is None:
                raise errors.pool_not_found()
            items, meta = page(nodes, query, f"nodes:{pid}:{params['pool']}", self.node_page_size)
            body = {"apiVersion": "v2", "kind": "NodeList", "metadata": meta, "items": items}
        elif route.name == "pool_monitor":
            state = self.fleet.pool_state(pid, params["pool"])
            if state is None:
                raise errors.pool_not_found()
            body = pool_monitor(self.fleet.seed, state, query, self.fleet.now)
        elif route.name == "list_flavors":
            flavors = self.fleet.flavors(pid)
            if "labelSelector" in query:
                selector = parse_selector(query["labelSelector"])
                flavors = [f for f in flavors if selector(f["metadata"]["labels"])]
            items, meta = page(flavors, query, f"flavors:{pid}")
            body = {"apiVersion": "v1", "kind": "ResourceFlavorList", "metadata": meta, "items": items}
        elif route.name == "list_virtual_flavors":
            # No query parameters and no paging are documented: one page, the docs' empty list metadata.
            body = {"kind": "ResourceFlavorList", "apiVersion": "v1", "metadata": {},
                    "items": self.fleet.virtual_flavors(pid)}
        elif route.name == "list_events":
            body = self._list_events(pid, query)
        elif route.name == "runtime_metrics":
            body = runtime_metrics(self.fleet.seed, self.fleet.pool_states(pid), self.fleet.now)
        elif route.name == "workload_statistics":
            state = self.fleet.pool_state(pid, params["pool"])
            if state is None:
                raise errors.pool_not_found()
            body = workload_statistics(self.fleet.seed, state, self.fleet.now)
        elif route.name == "iam_projects":
            body = list_projects(self.fleet.projects, query, self.base_url, raw_query)
            # IAM names its request id X-IAM-Trace-Id (the SDK quotes it in project-lookup errors).
            return Reply(200, encode_json(body), request_id, headers=[("X-IAM-Trace-Id", request_id)])
        else:
            return self._issue_token(req, query, request_id)
        return Reply(200, encode_json(body), request_id)

    def _list_pools(self, pid: str, query: dict[str, str]) -> list[dict]:
        docs = self.fleet.pools(pid)
        status = query.get("status")
        if status is not None and status not in _STATUS_FILTER:
            raise errors.bad_request()
        selector = parse_selector(query["labelSelector"]) if query.get("labelSelector") else None
        workspace = query.get("workspaceId")
        parent = query.get("parent")
        out = []
        for doc in docs:
            labels = doc["metadata"]["labels"]
            # An absent label means the default workspace "0" (the docs' examples omit it).
            if workspace is not None and labels.get("os.modelarts/workspace.id", "0") != workspace:
                continue
            if status is not None and doc["status"]["phase"] not in _STATUS_FILTER[status]:
                continue
            if parent is not None and doc["status"].get("parent") != parent:
                continue
            if selector is not None and not selector(labels):
                continue
            out.append(doc)
        return out

    def _list_events(self, pid: str, query: dict[str, str]) -> dict:
        """ListEvents of one pool (events.py), k8s-style continue paging of at most `limit` (<= 500) items.

        The SDK marks `resource` (only `pools` is documented) and `name` required: without them, or with a
        `type` other than Normal/Warning, or a `since`/`until` that is not an integer, the answer is the
        service's 400. `since`/`until` are epoch seconds: their unit is undocumented (utilization reference
        section 6), seconds being the likely reading. A name the project never had lists no events (the
        parameter filters, as Kubernetes field selectors do; it is no lookup, hence no 404).
        """
        name = query.get("name") or ""
        kind = query.get("type") or None
        if query.get("resource") != "pools" or not name or (kind is not None and kind not in EVENT_TYPES):
            raise errors.bad_request()
        bounds = {}
        for key in ("since", "until"):
            raw = query.get(key) or ""
            if raw and not re.fullmatch(r"-?[0-9]{1,12}", raw):
                raise errors.bad_request()
            bounds[key] = int(raw) if raw else None
        events = self.fleet.events(pid, name, since=bounds["since"], until=bounds["until"], kind=kind)
        # The token is bound to this very listing (pool and filters): a token of another one is a 400.
        scope = f"events:{pid}:{name}:{kind}:{bounds['since']}:{bounds['until']}"
        size = min(parse_limit(query), max(1, self.events_page_size))  # parse_limit: the 400 for a bad limit
        items, meta = page(events, {**query, "limit": str(size)}, scope)
        return {"apiVersion": "v1", "kind": "EventList", "metadata": meta, "items": items}

    def _issue_token(self, req: Request, query: dict[str, str], request_id: str) -> Reply:
        try:
            token, body = self.passwords.issue(req.body, self.fleet.projects, self.base_url,
                                               no_catalog=query.get("nocatalog") == "true")
        except IamError as e:
            return Reply(e.status, encode_json(e.body), request_id, headers=[("X-IAM-Trace-Id", request_id)])
        return Reply(201, encode_json(body), request_id,
                     headers=[("X-Subject-Token", token), ("X-IAM-Trace-Id", request_id)])


def _glitched(body: bytes, kind: str) -> bytes:
    """A listing that leaves out pools which still exist: none of them, or every other one."""
    doc = json.loads(body)
    doc["items"] = [] if kind == "empty_listing" else doc["items"][::2]
    return encode_json(doc)
