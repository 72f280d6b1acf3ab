"""Async HTTP client for the ModelArts resource pool API (and the few IAM calls it needs).

What it guarantees, per call:
- the response body comes back as raw bytes, exactly as received (decoded from gzip/deflate), because it is
  landed byte for byte: in memory while small, else in a spool file (`body.SpilledBody`); reading stops at
  `max_body_bytes` (`body_too_large`), so what a server sends never decides how much memory a call takes;
- a 2xx body is checked to be a whole JSON document (`jsonshape`), without parsing it, while it arrives;
- every attempt is signed afresh (new X-Sdk-Date), so a retry after a long Retry-After never carries a stale
  signature date (the gateway rejects dates more than 15 min off);
- failures raise a typed `ModelArtsError` carrying status, error code and message, request id, attempt count
  and the raw body of every attempt;
- no secret (SK, security token, password, IAM token) appears in a repr, an exception message or a log line.

Load is shaped three ways: a semaphore bounds in-flight attempts (held during an attempt only, never during a
backoff sleep, so a throttled call does not starve the others), a token bucket paces attempts below the
gateway's limit, and the retry policy (see `retry.py`) spaces out retries.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import importlib.metadata
import inspect
import json
import logging
import os
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import httpx

from pipeline.modelarts import iam, signer
from pipeline.modelarts.body import (
    DEFAULT_MAX_BODY_BYTES,
    HISTORY_IN_MEMORY_BYTES,
    IN_MEMORY_BYTES,
    Body,
    DecodingError,
    SpilledBody,
    SpoolError,
    body_head,
    body_size,
    read_body,
    spill,
)
from pipeline.modelarts.credentials import AkSkCredentials, Credentials, TokenCredentials
from pipeline.modelarts.errors import (
    BodyTooLargeError,
    MalformedResponseError,
    ModelArtsError,
    PaginationError,
    TlsError,
    TransportError,
    error_class_for,
    parse_error_body,
    redact,
    truncate,
)
from pipeline.modelarts.ratelimit import TokenBucket
from pipeline.modelarts.retry import RetryPolicy, is_retryable_status, parse_retry_after

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"
# Response headers that carry a credential: masked before a response is exposed anywhere.
_SECRET_RESPONSE_HEADERS = frozenset({"x-subject-token"})
# A paged listing that needs more pages than this is not a listing but a server bug.
DEFAULT_MAX_PAGES = 10_000
# `ApiResponse.json()` parses a spilled body only up to this size: Python objects take ~10-20x the JSON text.
MAX_PARSE_BYTES = 8 * IN_MEMORY_BYTES
# httpcore 1.0's pool does work per pooled connection, partly per pair of connections, each time it hands out
# or takes back a connection (encode/httpcore#1035). Measured here against the simulator (50 ms latency, 1,000
# calls): client CPU per call ~1.6 ms with one pool of 16 connections, ~4.5 ms of 32, ~7 ms of 64 (which then
# served only 105 calls/s). So a client's connections are spread over pools of at most this many, each attempt
# going to the least busy: ~1.2 ms per call at 16, 32 or 64 in flight.
CONNECTIONS_PER_POOL = 8


def _package_version() -> str:
    try:
        return importlib.metadata.version("poolscope")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


USER_AGENT = f"poolscope/{_package_version()}"


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt of one call, as the history and the `on_attempt` hook see it.

    `reason` is "ok" for the attempt that succeeded, else why it failed: "http_503", "timeout",
    "connect_error", "connection_reset", "truncated_body", "truncated_json", "not_json", "empty_body",
    "body_too_large", "tls_error", ...
    `delay_s` is the sleep chosen before the next attempt (None when there is no next attempt).
    `body` is bytes, or a SpilledBody for a large one (see `body.py`); for `body_too_large`, the first bytes.
    """

    attempt: int
    method: str
    path: str
    started_at: datetime
    duration_ms: float
    status: int | None
    reason: str
    error_code: str | None = None
    request_id: str | None = None
    retry_after_s: float | None = None
    delay_s: float | None = None
    body: Body = field(default=b"", repr=False)


@dataclass(frozen=True)
class ApiResponse:
    """A successful call: the raw answer plus how it was obtained.

    `path` is the request path without host or query; `query` the exact query string sent (never a secret:
    credentials travel in headers only). `headers` are the response headers.
    """

    method: str
    path: str
    query: str
    status: int
    headers: httpx.Headers = field(repr=False)
    body: Body = field(repr=False)
    request_id: str | None
    attempts: int
    elapsed_ms: float
    started_at: datetime
    history: tuple[AttemptRecord, ...] = field(default=(), repr=False)

    def json(self) -> Any:
        """The body parsed afresh on each call, so callers cannot alter each other's view of it.

        Raises ValueError for any body that cannot be read: not JSON, not UTF-8, nested too deeply for the
        parser, or too large to parse in memory. A hostile body is the call's problem, never the caller's crash.
        """
        return parse_json(self.body)


@dataclass(frozen=True)
class _Base:
    origin: str  # scheme://host[:port]
    host: str  # the Host header value, which is also what gets signed
    prefix: str  # path prefix of the endpoint, "" or "/something"


@dataclass(frozen=True)
class _Call:
    method: str
    base: _Base
    path: str  # encoded, relative to base.prefix
    query: str = ""
    project_id: str | None = None
    body: bytes = b""
    content_type: str = JSON_CONTENT_TYPE
    # "sign": AK/SK signature or X-Auth-Token, per the credentials. "none": the IAM token request itself,
    # which authenticates with the password in its body.
    auth: str = "sign"
    token_scope: iam.Scope | None = None

    @property
    def full_path(self) -> str:
        return self.base.prefix + self.path


@dataclass
class _Outcome:
    status: int | None
    headers: httpx.Headers | None
    body: Body
    reason: str
    retryable: bool
    message: str | None = None  # transport errors only


OnAttempt = Callable[[AttemptRecord], Any]


class ModelArtsClient:
    """Read-only client. Use as `async with ModelArtsClient(endpoint, creds) as client: ...`.

    `endpoint` is the ModelArts base URL (`https://modelarts.{region}.myhuaweicloud.com`; a bare host gets
    https://). `iam_endpoint` serves `list_projects` and IAM tokens; it defaults to `endpoint`, which is right
    for the simulator, while the real service needs `https://iam.{region}.myhuaweicloud.com`.

    `verify`: True (httpx's default trust: certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR when `trust_env`),
    False (no verification: for throwaway test setups only), a CA bundle path (file or hashed directory), or a
    ready `ssl.SSLContext`. `rate_limit` is requests per second for this client (None or 0: unpaced), with
    bursts of `rate_burst` (default a tenth of a second's worth). `http`: an AsyncClient to use instead of our
    own; it is not closed by us and its own TLS and proxy settings apply. `max_body_bytes` caps a body after
    decoding (the call ends as `body_too_large`); `spool_dir` is where bodies larger than IN_MEMORY_BYTES go
    (the system's temporary folder if None). `on_attempt(record)` is called after
    every attempt (sync or async; its exceptions are logged, never raised). `rng`, `clock`, `sleep`:
    injectable so that tests can pin the jitter and run the policy without real waiting.
    """

    def __init__(
        self,
        endpoint: str,
        credentials: Credentials,
        *,
        iam_endpoint: str | None = None,
        concurrency: int = 32,
        rate_limit: float | None = 100.0,
        rate_burst: int | None = None,
        timeout_s: float = 30.0,
        max_attempts: int = 6,
        max_total_s: float = 120.0,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 20.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        spool_dir: str | os.PathLike[str] | None = None,
        verify: bool | str | os.PathLike[str] | ssl.SSLContext = True,
        http: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
        on_attempt: OnAttempt | None = None,
        token_refresh_margin_s: float = 600.0,
        token_refresh_fraction: float = 0.1,
        trust_env: bool = True,
        user_agent: str = USER_AGENT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not isinstance(credentials, (AkSkCredentials, TokenCredentials)):
            raise TypeError("credentials must be AkSkCredentials or TokenCredentials")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not timeout_s > 0:
            raise ValueError("timeout_s must be positive")
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
        self._max_body_bytes = int(max_body_bytes)
        self._spool_dir = Path(spool_dir) if spool_dir is not None else None
        self._base = _parse_base(endpoint)
        self._iam_base = _parse_base(iam_endpoint) if iam_endpoint else self._base
        self._credentials = credentials
        self._policy = RetryPolicy(
            max_attempts=max_attempts,
            max_total_s=max_total_s,
            backoff_base_s=backoff_base_s,
            backoff_cap_s=backoff_cap_s,
        )
        self._timeout_s = float(timeout_s)
        self._semaphore = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._sleep = sleep
        self._bucket = (
            TokenBucket(rate_limit, rate_burst, clock=clock, sleep=sleep) if rate_limit else None
        )
        self._rng = rng or random.Random()
        self._on_attempt = on_attempt
        self._user_agent = user_agent
        self._refresh_margin_s = token_refresh_margin_s
        self._refresh_fraction = token_refresh_fraction
        self._tokens: dict[iam.Scope, iam.IamToken] = {}
        self._token_fetches: dict[iam.Scope, asyncio.Future[iam.IamToken]] = {}
        if http is None:
            ssl_verify = _ssl_verify(verify)
            shards = -(-concurrency // CONNECTIONS_PER_POOL)
            per_pool = -(-concurrency // shards)
            self._pools = [
                httpx.AsyncClient(
                    verify=ssl_verify,
                    timeout=httpx.Timeout(self._timeout_s),
                    limits=httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool),
                    follow_redirects=False,
                    trust_env=trust_env,
                )
                for _ in range(shards)
            ]
            self._owns_http = True
        else:
            self._pools = [http]
            self._owns_http = False
        self._busy = [0] * len(self._pools)  # attempts in flight per pool

    def __repr__(self) -> str:
        return f"ModelArtsClient(endpoint={self._base.origin + self._base.prefix!r}, credentials={self._credentials!r})"

    async def __aenter__(self) -> ModelArtsClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await asyncio.gather(*(pool.aclose() for pool in self._pools))

    # ------------------------------------------------------------------ API operations

    async def list_pools(
        self,
        project_id: str,
        *,
        workspace_id: str | None = None,
        label_selector: str | None = None,
        status: str | None = None,
    ) -> ApiResponse:
        """GET /v2/{project_id}/pools: every pool of the project, one page (reference section 2)."""
        params = _present([("workspaceId", workspace_id), ("labelSelector", label_selector), ("status", status)])
        return await self.request("GET", f"/v2/{_segment(project_id, 'project_id')}/pools", params, project_id=project_id)

    async def show_pool(self, project_id: str, pool_name: str) -> ApiResponse:
        """GET /v2/{project_id}/pools/{pool_name}; `pool_name` is the pool ID (metadata.name)."""
        path = f"/v2/{_segment(project_id, 'project_id')}/pools/{_segment(pool_name, 'pool_name')}"
        return await self.request("GET", path, project_id=project_id)

    async def list_projects(self, name: str | None = None) -> ApiResponse:
        """IAM GET /v3/projects (optionally ?name=<region id>), to map regions to project IDs."""
        params = _present([("name", name)])
        return await self.request("GET", "/v3/projects", params, service="iam")

    async def list_resource_flavors(
        self,
        project_id: str,
        *,
        label_selector: str | None = None,
        limit: int | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> list[ApiResponse]:
        """GET /v1/{project_id}/resourceflavors, following metadata.continue; one ApiResponse per page."""
        path = f"/v1/{_segment(project_id, 'project_id')}/resourceflavors"
        params = _present([("labelSelector", label_selector), ("limit", limit)])
        return await self.paginate(path, params, project_id=project_id, max_pages=max_pages)

    async def list_pool_nodes(
        self, project_id: str, pool_name: str, *, limit: int | None = None, max_pages: int = DEFAULT_MAX_PAGES
    ) -> list[ApiResponse]:
        """GET /v2/{project_id}/pools/{pool_name}/nodes, following metadata.continue; one response per page."""
        path = f"/v2/{_segment(project_id, 'project_id')}/pools/{_segment(pool_name, 'pool_name')}/nodes"
        return await self.paginate(path, _present([("limit", limit)]), project_id=project_id, max_pages=max_pages)

    # ------------------------------------------------------------------ generic access

    async def request(
        self,
        method: str,
        path: str,
        params: Iterable[tuple[str, signer.QueryValue]] = (),
        *,
        project_id: str | None = None,
        service: str = "modelarts",
    ) -> ApiResponse:
        """One call with retries. `path` must already be percent-encoded; `params` are raw (key, value) pairs.

        `project_id` makes the call project-scoped: it is sent as X-Project-Id and selects the IAM token scope.
        `service` is "modelarts" or "iam" (which base URL to use).
        """
        if service not in ("modelarts", "iam"):
            raise ValueError(f"unknown service {service!r}")
        if not path.startswith("/"):
            raise ValueError("path must start with '/'")
        base = self._base if service == "modelarts" else self._iam_base
        if isinstance(self._credentials, TokenCredentials):
            scope = iam.project_scope(project_id) if project_id else iam.domain_scope(self._credentials.domain)
        else:
            scope = None
        call = _Call(
            method=method.upper(),
            base=base,
            path=path,
            query=signer.canonical_query(list(params)),
            project_id=project_id,
            token_scope=scope,
        )
        return await self._execute(call)

    async def paginate(
        self,
        path: str,
        params: Iterable[tuple[str, signer.QueryValue]] = (),
        *,
        project_id: str | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> list[ApiResponse]:
        """Follow Kubernetes-style `metadata.continue` tokens until a page has none (reference section 2).

        The token is passed back untouched (it is opaque). A token seen twice, or more than `max_pages`
        pages, raises PaginationError rather than looping forever. If a page fails, the exception's `pages`
        holds the pages already fetched, so the caller can still land them.
        """
        base_params = [(k, v) for k, v in params if k != "continue"]
        pages: list[ApiResponse] = []
        seen: set[str] = set()
        token: str | None = None
        while True:
            query = base_params + ([("continue", token)] if token else [])
            try:
                page = await self.request("GET", path, query, project_id=project_id)
            except ModelArtsError as exc:
                exc.pages = tuple(pages)
                raise
            try:
                doc = parse_json_lenient(page.body)
            except ValueError as exc:
                pages.append(page)
                raise MalformedResponseError(
                    status=page.status, error_msg=f"cannot read the page to find the next one: {exc}",
                    request_id=page.request_id, attempts=page.attempts, method=page.method, path=page.path,
                    query=page.query, reason="unreadable_page", response=page, history=page.history,
                    pages=tuple(pages),
                ) from None
            # Pages wait here until the listing ends: a large one waits in a file, not in memory.
            pages.append(_spilled(page, self._spool_dir))
            if not isinstance(doc, dict):
                raise MalformedResponseError(
                    status=page.status, error_msg="a page is not a JSON object", request_id=page.request_id,
                    attempts=page.attempts, method=page.method, path=page.path, query=page.query, reason="not_an_object",
                    response=page, history=page.history, pages=tuple(pages),
                )
            metadata = doc.get("metadata")
            token = metadata.get("continue") if isinstance(metadata, dict) else None
            if not token:
                return pages
            if not isinstance(token, str) or token in seen or len(pages) >= max_pages:
                why = "repeated continue token" if token in seen else f"more than {max_pages} pages"
                raise PaginationError(
                    status=page.status, error_msg=f"paging does not terminate: {why}", request_id=page.request_id,
                    attempts=page.attempts, method=page.method, path=page.path, query=page.query, reason="pagination",
                    response=page, history=page.history, pages=tuple(pages),
                )
            seen.add(token)

    # ------------------------------------------------------------------ the retry loop

    async def _execute(self, call: _Call) -> ApiResponse:
        response, _ = await self._execute_raw(call)
        return response

    async def _execute_raw(self, call: _Call) -> tuple[ApiResponse, httpx.Headers]:
        """The retry loop. Returns the response and its unmasked headers (only the IAM token needs those)."""
        policy = self._policy
        history: list[AttemptRecord] = []
        last: _Outcome | None = None
        last_token: iam.IamToken | None = None
        start: float | None = None
        started_at = datetime.now(timezone.utc)
        refreshed_token = False
        attempt = 0
        while True:
            attempt += 1
            # The IAM token first, outside the semaphore: fetching it is itself a call that needs a slot.
            token = await self._token(call.token_scope) if self._uses_token(call) else None
            async with self._semaphore:
                if self._bucket is not None:
                    await self._bucket.acquire()
                # Signed only now, right before sending: X-Sdk-Date must be fresh whatever the queueing was.
                headers = self._headers(call, token)
                now = self._clock()
                if start is None:
                    start, started_at = now, datetime.now(timezone.utc)
                remaining = policy.max_total_s - (now - start)
                if remaining <= 0 and last is not None:
                    # Waiting for a slot ate the budget: give up with what the previous attempt said.
                    self._fail(call, history, attempts=attempt - 1, token=last_token, outcome=last, start=start)
                attempt_started_at = datetime.now(timezone.utc)
                outcome = await self._attempt(call, headers, timeout_s=min(self._timeout_s, max(remaining, 0.001)))
                duration_ms = (self._clock() - now) * 1000.0
            last, last_token = outcome, token

            status = outcome.status
            error_code = request_id = None
            retry_after = None
            if outcome.headers is not None:
                request_id = outcome.headers.get("x-request-id") or None
                retry_after = parse_retry_after(outcome.headers.get("retry-after"))
            if status is not None and status >= 400:
                error_code, _, body_request_id = parse_error_body(status, body_head(outcome.body))
                request_id = request_id or body_request_id
            elif outcome.reason == "ok" and not request_id:
                request_id = _body_request_id(outcome.body)
            if error_code or request_id:
                # Both come from what the server sent, and are written to tables: a secret echoed there is masked.
                secrets = self._credentials.secrets() + ((token.value,) if token else ())
                error_code, request_id = redact(error_code, secrets), redact(request_id, secrets)

            if outcome.reason == "ok":
                assert status is not None and outcome.headers is not None
                record = AttemptRecord(
                    attempt, call.method, call.full_path, attempt_started_at, duration_ms, status, "ok",
                    None, request_id, retry_after, None, outcome.body,
                )
                history.append(record)
                await self._notify(record)
                response = ApiResponse(
                    method=call.method,
                    path=call.full_path,
                    query=call.query,
                    status=status,
                    headers=_safe_headers(outcome.headers),
                    body=outcome.body,
                    request_id=request_id,
                    attempts=attempt,
                    elapsed_ms=(self._clock() - start) * 1000.0,
                    started_at=started_at,
                    history=tuple(history),
                )
                return response, outcome.headers

            # Decide what comes next before recording, so that the record (and the hook) carries the delay.
            delay: float | None = None
            stop_reason = "not retryable"
            if status == 401 and token is not None and not refreshed_token:
                # A token can be revoked or expire early (password change, arrears): one fresh token, at once.
                self._invalidate_token(token)
                refreshed_token = True
                delay = 0.0
            elif outcome.retryable:
                delay = policy.delay(attempt - 1, self._rng, retry_after)
            if delay is not None:
                elapsed = self._clock() - start
                if attempt >= policy.max_attempts:
                    delay, stop_reason = None, f"{policy.max_attempts} attempts made"
                elif elapsed + delay >= policy.max_total_s:
                    delay = None
                    stop_reason = f"the next try would start after the {policy.max_total_s:g} s budget"

            body = outcome.body
            if delay is not None and isinstance(body, bytes) and len(body) > HISTORY_IN_MEMORY_BYTES:
                # It waits in the history through the back-off (with many calls waiting): in a file.
                body = _spill_quietly(body, self._spool_dir)
            record = AttemptRecord(
                attempt, call.method, call.full_path, attempt_started_at, duration_ms, status, outcome.reason,
                error_code, request_id, retry_after, delay, body,
            )
            history.append(record)
            await self._notify(record)
            if delay is None:
                if outcome.retryable:
                    logger.warning(
                        "%s %s: giving up after attempt %d (%s%s): %s", call.method, call.full_path, attempt,
                        outcome.reason, f" {error_code}" if error_code else "", stop_reason,
                    )
                self._fail(call, history, attempts=attempt, token=token, outcome=outcome, start=start)
            logger.info(
                "%s %s: attempt %d failed (%s%s); retrying in %.2f s", call.method, call.full_path, attempt,
                outcome.reason, f" {error_code}" if error_code else "", delay,
            )
            if delay > 0:
                await self._sleep(delay)

    async def _attempt(self, call: _Call, headers: dict[str, str], *, timeout_s: float) -> _Outcome:
        # The least busy pool: with at most `concurrency` attempts in flight (the semaphore) it always has a
        # free connection slot, so no attempt queues inside httpcore.
        index = min(range(len(self._busy)), key=self._busy.__getitem__)
        http = self._pools[index]
        url = call.base.origin + call.full_path + (f"?{call.query}" if call.query else "")
        request = http.build_request(
            call.method, url, headers=headers, content=call.body or None, timeout=httpx.Timeout(timeout_s)
        )
        sent_target = call.full_path + (f"?{call.query}" if call.query else "")
        if request.url.raw_path.decode("ascii") != sent_target:
            # The signature covers this exact path and query; if httpx re-encoded it, every call would be a 401.
            raise RuntimeError(f"httpx altered the request target {sent_target!r} -> {request.url.raw_path!r}")
        self._busy[index] += 1
        try:
            # httpx's timeouts are per read; a server dripping bytes would never trip them. Bound the attempt:
            # sending, reading and checking the body all happen inside it, and count towards its duration.
            async with asyncio.timeout(timeout_s):
                response = await http.send(request, stream=True)
                try:
                    read = await read_body(
                        response.aiter_raw(), response.headers.get_list("content-encoding", split_commas=True),
                        max_bytes=self._max_body_bytes, spool_dir=self._spool_dir,
                        check_json=200 <= response.status_code < 300,
                    )
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            return _Outcome(None, None, b"", "timeout", True, f"no complete answer within {timeout_s:.3g} s")
        except httpx.ConnectError as exc:
            if _is_certificate_error(exc):
                return _Outcome(None, None, b"", "tls_error", False, f"TLS certificate not trusted: {_exc_text(exc)}")
            return _Outcome(None, None, b"", "connect_error", True, f"cannot connect: {_exc_text(exc)}")
        except httpx.RemoteProtocolError as exc:
            text = str(exc).lower()
            if "complete message body" in text or "incomplete" in text:
                reason = "truncated_body"
            elif "disconnected" in text or "reset" in text:
                reason = "connection_reset"
            else:
                reason = "protocol_error"
            return _Outcome(None, None, b"", reason, True, _exc_text(exc))
        except (httpx.ReadError, httpx.WriteError, httpx.CloseError) as exc:
            return _Outcome(None, None, b"", "connection_reset", True, _exc_text(exc))
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            return _Outcome(None, None, b"", "invalid_url", False, _exc_text(exc))
        except httpx.TransportError as exc:
            return _Outcome(None, None, b"", "transport_error", True, _exc_text(exc))
        except (httpx.DecodingError, DecodingError) as exc:
            return _Outcome(None, None, b"", "decoding_error", True, _exc_text(exc))
        except SpoolError as exc:  # a large body could not be written to disk: not the server's doing
            return _Outcome(None, None, b"", "spool_error", False, _exc_text(exc))
        finally:
            self._busy[index] -= 1

        status = response.status_code
        headers_out = response.headers
        body = read.body
        if read.too_large:
            # The same server would send it again: not retried. Its first bytes are the evidence.
            return _Outcome(status, headers_out, body, "body_too_large", False,
                            f"the {status} answer is larger than {_mib(self._max_body_bytes)} after decoding "
                            f"(fetch.max_body_mb); its first {len(body)} bytes are kept")
        if 200 <= status < 300:
            if read.shape != "ok":
                # A body cut short but framed as complete (a proxy's doing, or the simulator's "truncate" fault)
                # is transient; every API we call answers JSON, so anything else is worth another try.
                return _Outcome(status, headers_out, body, read.shape or "truncated_json", True)
            return _Outcome(status, headers_out, body, "ok", False)
        return _Outcome(status, headers_out, body, f"http_{status}", is_retryable_status(status))

    def _fail(
        self,
        call: _Call,
        history: list[AttemptRecord],
        *,
        attempts: int,
        token: iam.IamToken | None,
        outcome: _Outcome,
        start: float,
    ) -> NoReturn:
        """Raise the typed error that the last attempt calls for."""
        last = history[-1]
        secrets = self._credentials.secrets() + ((token.value,) if token else ())
        if last.status is None:
            cls: type[ModelArtsError] = TlsError if last.reason == "tls_error" else TransportError
            message = outcome.message or last.reason
            error_code = None
        elif last.reason == "body_too_large":
            cls, error_code = BodyTooLargeError, last.error_code
            message = outcome.message or last.reason
        elif 200 <= last.status < 300:
            cls, error_code = MalformedResponseError, None
            size = body_size(last.body)
            message = {
                "empty_body": f"the {last.status} answer is empty",
                "not_json": f"the {last.status} answer is not JSON ({size} bytes)",
            }.get(last.reason, f"the {last.status} answer is not valid JSON: it ends before it is complete "
                               f"({size} bytes)")
        else:
            cls = error_class_for(last.status)
            error_code, message, _ = parse_error_body(last.status, body_head(last.body))
        elapsed_ms = (self._clock() - start) * 1000.0
        response = None
        if outcome.headers is not None:
            response = ApiResponse(
                method=call.method,
                path=call.full_path,
                query=call.query,
                status=last.status,  # type: ignore[arg-type]
                headers=_safe_headers(outcome.headers),
                body=last.body,
                request_id=last.request_id,
                attempts=attempts,
                elapsed_ms=elapsed_ms,
                started_at=history[0].started_at,
                history=tuple(history),
            )
        raise cls(
            status=last.status,
            error_code=error_code,
            error_msg=redact(message, secrets),
            request_id=last.request_id,
            attempts=attempts,
            elapsed_ms=elapsed_ms,
            method=call.method,
            path=call.full_path,
            query=call.query,
            reason=last.reason,
            retry_after_s=last.retry_after_s,
            response=response,
            history=history,
        )

    async def _notify(self, record: AttemptRecord) -> None:
        if self._on_attempt is None:
            return
        try:
            result = self._on_attempt(record)
            if inspect.isawaitable(result):
                await result
        except Exception:  # a progress or metrics hook must not fail the fetch it observes
            logger.exception("on_attempt hook failed")

    # ------------------------------------------------------------------ authentication

    def _uses_token(self, call: _Call) -> bool:
        return call.auth == "sign" and isinstance(self._credentials, TokenCredentials)

    def _headers(self, call: _Call, token: iam.IamToken | None) -> dict[str, str]:
        """Request headers for one attempt: SDK-like, signed afresh (AK/SK) or carrying the IAM token."""
        headers = {"Content-Type": call.content_type, "User-Agent": self._user_agent}
        if call.project_id:
            headers["X-Project-Id"] = call.project_id
        creds = self._credentials
        if call.auth == "sign" and isinstance(creds, AkSkCredentials):
            if creds.security_token:
                headers["X-Security-Token"] = creds.security_token  # before signing: it is a signed header
            return signer.sign(
                ak=creds.ak,
                sk=creds.sk,
                method=call.method,
                host=call.base.host,
                path=call.full_path,
                query=call.query,
                headers=headers,
                body=call.body,
            )
        headers["Host"] = call.base.host
        if token is not None:
            headers["X-Auth-Token"] = token.value
        return headers

    async def _token(self, scope: iam.Scope | None) -> iam.IamToken:
        assert scope is not None
        cached = self._tokens.get(scope)
        if cached is not None and cached.usable(self._clock()):
            return cached
        # Single flight per scope: a burst of calls at startup or renewal shares one token request, and, as
        # important, one failure. N parallel logins with a wrong password would count N times towards IAM's
        # lock-out of the user.
        fetch = self._token_fetches.get(scope)
        if fetch is None:
            fetch = asyncio.ensure_future(self._fetch_token(scope))
            self._token_fetches[scope] = fetch
            fetch.add_done_callback(lambda done: self._fetch_done(scope, done))
        # Shielded: a caller that is cancelled must not cancel the fetch the others are waiting for.
        return await asyncio.shield(fetch)

    def _fetch_done(self, scope: iam.Scope, fetch: asyncio.Future) -> None:
        if self._token_fetches.get(scope) is fetch:
            del self._token_fetches[scope]
        if fetch.cancelled():
            return
        if fetch.exception() is None:
            self._tokens[scope] = fetch.result()

    def _invalidate_token(self, token: iam.IamToken) -> None:
        # Only drop the token we used: a concurrent caller may already have cached a fresh one.
        if self._tokens.get(token.scope) is token:
            del self._tokens[token.scope]

    async def _fetch_token(self, scope: iam.Scope) -> iam.IamToken:
        creds = self._credentials
        assert isinstance(creds, TokenCredentials)
        call = _Call(
            method="POST",
            base=self._iam_base,
            path=iam.TOKENS_PATH,
            query=iam.TOKENS_QUERY,
            body=iam.token_request_body(creds, scope),
            content_type=iam.TOKEN_CONTENT_TYPE,
            auth="none",
        )
        requested_mono, requested_wall = self._clock(), datetime.now(timezone.utc)
        response, raw_headers = await self._execute_raw(call)
        try:
            # Read the token from the raw headers: the response object only carries a masked copy.
            return iam.parse_token_response(
                subject_token=raw_headers.get(iam.SUBJECT_TOKEN_HEADER),
                body=response.json(),
                scope=scope,
                requested_mono=requested_mono,
                requested_wall=requested_wall,
                refresh_margin_s=self._refresh_margin_s,
                refresh_fraction=self._refresh_fraction,
            )
        except ValueError as exc:
            raise MalformedResponseError(
                status=response.status, error_msg=str(exc), request_id=response.request_id,
                attempts=response.attempts, method=response.method, path=response.path, query=response.query,
                reason="bad_token_response", response=response, history=response.history,
            ) from None


# ---------------------------------------------------------------------- helpers


def _parse_base(endpoint: str) -> _Base:
    text = endpoint.strip()
    if "://" not in text:
        text = "https://" + text  # like the SDK: a bare host means HTTPS
    url = httpx.URL(text)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"endpoint must be an http(s) URL, got {endpoint!r}")
    if url.userinfo:
        raise ValueError("endpoint must not contain user information")
    if url.query or url.fragment:
        raise ValueError("endpoint must not contain a query or fragment")
    # netloc keeps a non-default port and IPv6 brackets, exactly what the signer expects as the Host value.
    host = url.netloc.decode("ascii")
    return _Base(origin=f"{url.scheme}://{host}", host=host, prefix=url.raw_path.decode("ascii").rstrip("/"))


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    # Loading the trust store costs ~25 ms; a snapshot makes one client per endpoint, a demo hundreds.
    # Built on first use, not at import. SSLContext objects are safe to share between clients.
    return httpx.create_ssl_context()


def _ssl_verify(verify: bool | str | os.PathLike[str] | ssl.SSLContext) -> bool | ssl.SSLContext:
    if verify is True:
        return _default_ssl_context()
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        logger.warning("TLS certificate verification is disabled: only acceptable against a local test server")
        return False
    path = Path(verify)
    if path.is_dir():
        return ssl.create_default_context(capath=str(path))
    if path.is_file():
        return ssl.create_default_context(cafile=str(path))
    raise ValueError(f"CA bundle {str(path)!r} does not exist")


def _segment(value: str, name: str) -> str:
    """One percent-encoded path segment; '/' is encoded too, so a value can never change the route."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return quote(value, safe="")


def _present(pairs: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in pairs if v is not None]


def parse_json(body: Body) -> Any:
    """json.loads for a response body, raising only ValueError (see `ApiResponse.json`)."""
    if isinstance(body, SpilledBody):
        if body.size > MAX_PARSE_BYTES:
            raise ValueError(f"the body ({body.size} bytes) is too large to parse in memory")
        body = body.read()
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("the body is nested too deeply to parse") from None
    except MemoryError:
        raise ValueError("the body is too large to parse in memory") from None


def parse_json_lenient(body: Body) -> Any:
    """A page of a paged listing, read for its continue token: a bad byte in some item's text must not stop
    the paging (the item itself is the normalizer's to reject), so undecodable bytes are replaced."""
    try:
        return parse_json(body)
    except UnicodeDecodeError:
        raw = body.read() if isinstance(body, SpilledBody) else body
        return parse_json(raw.decode("utf-8", errors="replace").encode("utf-8"))


def _spilled(page: ApiResponse, spool_dir: Path | None) -> ApiResponse:
    body = page.body
    if not isinstance(body, bytes) or len(body) <= HISTORY_IN_MEMORY_BYTES:
        return page
    spilled = _spill_quietly(body, spool_dir)
    if spilled is body:
        return page
    history = tuple(dataclasses.replace(r, body=spilled) if r.body is body else r for r in page.history)
    return dataclasses.replace(page, body=spilled, history=history)


def _spill_quietly(body: bytes, spool_dir: Path | None) -> Body:
    """Spill to a file; if that fails (disk full), keep the bytes: memory is the lesser problem."""
    try:
        return spill(body, spool_dir)
    except OSError:
        return body


def _body_request_id(body: Body) -> str | None:
    # Only an object's top-level request_id; bodies here are small enough that parsing twice is cheap.
    if isinstance(body, SpilledBody) or not body.lstrip().startswith(b"{") or b'"request_id"' not in body:
        return None
    try:
        doc = parse_json(body)
    except ValueError:
        return None
    rid = doc.get("request_id") if isinstance(doc, dict) else None
    return rid if isinstance(rid, str) and rid else None


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def _safe_headers(headers: httpx.Headers) -> httpx.Headers:
    if not any(name.lower() in _SECRET_RESPONSE_HEADERS for name in headers.keys()):
        return headers
    return httpx.Headers(
        [(k, "***" if k.lower() in _SECRET_RESPONSE_HEADERS else v) for k, v in headers.multi_items()]
    )


def _is_certificate_error(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _exc_text(exc: BaseException) -> str:
    """Exception text for messages: type and message, bounded. httpx messages carry no headers."""
    text = str(exc) or type(exc).__name__
    return truncate(f"{type(exc).__name__}: {text}" if str(exc) else text, 300)
