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
backoff sleep, so a throttled call does not starve the others), a pacer keeps attempts under the gateway's
limit (a token bucket at a fixed rate, or `adaptive.AdaptiveRate`, which finds the limit from the 429s and
bounds the attempts in flight by rate x latency), and the retry policy (see `retry.py`) spaces out retries.

The pieces it is made of: `calls.py` (what a call is, safe paths), `auth.py` (signature or IAM token per
attempt), `transport.py` (connection pools, one attempt on the wire), `responses.py` (what a call returns),
`retry.py` and `ratelimit.py` (when to try again, how fast); this module is the retry loop that joins them and
the API's operations.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import NoReturn

import httpx

from pipeline.modelarts import iam, signer
from pipeline.modelarts.auth import Authenticator
from pipeline.modelarts.body import DEFAULT_MAX_BODY_BYTES, HISTORY_IN_MEMORY_BYTES, body_head, body_size
from pipeline.modelarts.calls import Call, parse_base, present, segment
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
)
from pipeline.modelarts.adaptive import AdaptiveRate, FixedRate
from pipeline.modelarts.responses import (
    ApiResponse,
    AttemptRecord,
    OnAttempt,
    body_request_id,
    parse_json_lenient,
    spill_quietly,
    spilled_page,
)
from pipeline.modelarts.retry import RetryPolicy, parse_retry_after
from pipeline.modelarts.transport import USER_AGENT, Outcome, make_pools, safe_headers, send

logger = logging.getLogger(__name__)
# A paged listing that needs more pages than this is not a listing but a server bug.
DEFAULT_MAX_PAGES = 10_000


class ModelArtsClient:
    """Read-only client. Use as `async with ModelArtsClient(endpoint, creds) as client: ...`.

    `endpoint` is the ModelArts base URL (`https://modelarts.{region}.myhuaweicloud.com`; a bare host gets
    https://). `iam_endpoint` serves `list_projects` and IAM tokens; it defaults to `endpoint`, which is right
    for the simulator, while the real service needs `https://iam.{region}.myhuaweicloud.com`.

    `verify`: True (httpx's default trust: certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR when `trust_env`),
    False (no verification: for throwaway test setups only), a CA bundle path (file or hashed directory), or a
    ready `ssl.SSLContext`. `rate_limit` is requests per second for this client (None or 0: unpaced), with
    bursts of `rate_burst` (default a tenth of a second's worth). `rate`: a pacer to use instead, shared by the
    clients of one endpoint: `AdaptiveRate` (`fetch.rate_limit: auto`: finds the gateway's limit, and bounds
    the attempts in flight by rate x latency) or `FixedRate`. `http`: an AsyncClient to use instead of our
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
        rate: AdaptiveRate | FixedRate | None = None,
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
        self._base = parse_base(endpoint)
        self._iam_base = parse_base(iam_endpoint) if iam_endpoint else self._base
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
        if rate is None and rate_limit:
            rate = FixedRate(rate_limit, rate_burst, clock=clock, sleep=sleep)
        self.rate = rate
        self._rng = rng or random.Random()
        self._on_attempt = on_attempt
        self._auth = Authenticator(credentials, self._iam_base, self._execute_raw, user_agent=user_agent,
                                   clock=clock, refresh_margin_s=token_refresh_margin_s,
                                   refresh_fraction=token_refresh_fraction)
        if http is None:
            self._pools = make_pools(concurrency, verify, self._timeout_s, trust_env)
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
        params = present([("workspaceId", workspace_id), ("labelSelector", label_selector), ("status", status)])
        return await self.request("GET", f"/v2/{segment(project_id, 'project_id')}/pools", params, project_id=project_id)

    async def show_pool(self, project_id: str, pool_name: str) -> ApiResponse:
        """GET /v2/{project_id}/pools/{pool_name}; `pool_name` is the pool ID (metadata.name)."""
        path = f"/v2/{segment(project_id, 'project_id')}/pools/{segment(pool_name, 'pool_name')}"
        return await self.request("GET", path, project_id=project_id)

    async def show_pool_runtime_metrics(self, project_id: str) -> ApiResponse:
        """GET /v2/{project_id}/metrics/runtime/pools: capacity, allocated and available resources and the
        running and queued workloads of every pool of the project, in one answer (utilization reference,
        section 2)."""
        path = f"/v2/{segment(project_id, 'project_id')}/metrics/runtime/pools"
        return await self.request("GET", path, project_id=project_id)

    async def show_workload_statistics(self, project_id: str, pool_name: str) -> ApiResponse:
        """GET /v2/{project_id}/statistics/pools/{pool_name}/workloads: the pool's workloads per type and status
        (utilization reference, section 5). The root is `statistics` (SDK) or `statics` (docs), counts integers
        or strings: read the raw JSON."""
        path = f"/v2/{segment(project_id, 'project_id')}/statistics/pools/{segment(pool_name, 'pool_name')}/workloads"
        return await self.request("GET", path, project_id=project_id)

    async def show_pool_monitor(
        self,
        project_id: str,
        pool_name: str,
        *,
        start: datetime,
        end: datetime,
        period: int = 3600,
        statistics: str = "average",
    ) -> ApiResponse:
        """GET /v2/{project_id}/pools/{pool_name}/monitor: the pool's measured utilization (cpuUsage, memUsedRate,
        gpuUtil, npuUtil, ...) over [start, end), one point per `period` seconds (utilization reference,
        section 3). The time range goes on the wire as a consistent `<startMs>.<endMs>.<durationMin>` triple with
        durationMin = (end - start) / 60000: the SDK and the web pages disagree on the bound of durationMin, the
        exact span satisfies the reading the simulator and the web pages use. `start` and `end` must be
        timezone-aware and a whole number of minutes apart. The service allows at most 1,440 points a call
        (durationMin * 60 / period <= 1440): keeping within it is the caller's business."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        start_ms = int(start.timestamp() * 1000)
        end_ms = int(end.timestamp() * 1000)
        span_ms = end_ms - start_ms
        if span_ms <= 0 or span_ms % 60_000:
            raise ValueError("end must come a whole number of minutes (at least one) after start")
        path = f"/v2/{segment(project_id, 'project_id')}/pools/{segment(pool_name, 'pool_name')}/monitor"
        params = [("time_range", f"{start_ms}.{end_ms}.{span_ms // 60_000}"), ("statistics", statistics),
                  ("period", period)]
        return await self.request("GET", path, params, project_id=project_id)

    async def list_projects(self, name: str | None = None) -> ApiResponse:
        """IAM GET /v3/projects (optionally ?name=<region id>), to map regions to project IDs."""
        params = present([("name", name)])
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
        path = f"/v1/{segment(project_id, 'project_id')}/resourceflavors"
        params = present([("labelSelector", label_selector), ("limit", limit)])
        return await self.paginate(path, params, project_id=project_id, max_pages=max_pages)

    async def list_virtual_resource_flavors(
        self, project_id: str, *, max_pages: int = DEFAULT_MAX_PAGES
    ) -> list[ApiResponse]:
        """GET /v1/{project_id}/virtualresourceflavors: the virtual (NPU slice) flavors of Logical pools, with
        `virtualResourceTemplateName` and `visibility` (absent from SDK 3.1.219; the docs name no query parameter
        and show one page with empty metadata; a metadata.continue is followed all the same). One ApiResponse
        per page."""
        path = f"/v1/{segment(project_id, 'project_id')}/virtualresourceflavors"
        return await self.paginate(path, (), project_id=project_id, max_pages=max_pages)

    async def list_pool_nodes(
        self, project_id: str, pool_name: str, *, limit: int | None = None, max_pages: int = DEFAULT_MAX_PAGES
    ) -> list[ApiResponse]:
        """GET /v2/{project_id}/pools/{pool_name}/nodes, following metadata.continue; one response per page."""
        path = f"/v2/{segment(project_id, 'project_id')}/pools/{segment(pool_name, 'pool_name')}/nodes"
        return await self.paginate(path, present([("limit", limit)]), project_id=project_id, max_pages=max_pages)

    async def list_events(
        self,
        project_id: str,
        pool_name: str,
        *,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> list[ApiResponse]:
        """GET /v1/{project_id}/events?resource=pools&name=<pool_name>: the pool's events (ListEvents), following
        metadata.continue; one ApiResponse per page (utilization reference section 6). `since` and `until` are
        epoch seconds (the unit is undocumented; seconds is the likely reading); `limit` is at most 500."""
        path = f"/v1/{segment(project_id, 'project_id')}/events"
        params = present([("resource", "pools"), ("name", pool_name), ("since", since), ("until", until),
                          ("limit", limit)])
        return await self.paginate(path, params, project_id=project_id, max_pages=max_pages)

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
        call = Call(
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
            pages.append(spilled_page(page, self._spool_dir))
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

    async def _execute(self, call: Call) -> ApiResponse:
        response, _ = await self._execute_raw(call)
        return response

    async def _execute_raw(self, call: Call) -> tuple[ApiResponse, httpx.Headers]:
        """The retry loop. Returns the response and its unmasked headers (only the IAM token needs those)."""
        policy = self._policy
        history: list[AttemptRecord] = []
        last: Outcome | None = None
        last_token: iam.IamToken | None = None
        start: float | None = None
        started_at = datetime.now(timezone.utc)
        refreshed_token = False
        attempt = 0
        throttled = 0  # attempts answered 429
        while True:
            attempt += 1
            # The IAM token first, outside the semaphore: fetching it is itself a call that needs a slot.
            token = await self._auth.token(call.token_scope) if self._auth.uses_token(call) else None
            async with self._semaphore:
                ticket = await self.rate.acquire() if self.rate is not None else None
                sent: Outcome | None = None
                retry_after = None
                try:
                    # Signed only now, right before sending: X-Sdk-Date must be fresh whatever the queueing was.
                    headers = self._auth.headers(call, token)
                    now = self._clock()
                    if start is None:
                        start, started_at = now, datetime.now(timezone.utc)
                    remaining = policy.max_total_s - (now - start)
                    if remaining <= 0 and last is not None:
                        # Waiting for a slot ate the budget: give up with what the previous attempt said.
                        self._fail(call, history, attempts=attempt - 1, token=last_token, outcome=last, start=start)
                    attempt_started_at = datetime.now(timezone.utc)
                    sent = outcome = await self._attempt(call, headers,
                                                         timeout_s=min(self._timeout_s, max(remaining, 0.001)))
                    duration_ms = (self._clock() - now) * 1000.0
                    if outcome.headers is not None:
                        retry_after = parse_retry_after(outcome.headers.get("retry-after"))
                finally:
                    if ticket is not None:
                        if sent is None:
                            self.rate.done(ticket, None, sent=False)
                        else:
                            self.rate.done(ticket, sent.status, duration_ms / 1000.0, retry_after)
            last, last_token = outcome, token

            status = outcome.status
            error_code = request_id = None
            if outcome.headers is not None:
                request_id = outcome.headers.get("x-request-id") or None
            if status is not None and status >= 400:
                error_code, _, error_request_id = parse_error_body(status, body_head(outcome.body))
                request_id = request_id or error_request_id
            elif outcome.reason == "ok" and not request_id:
                request_id = body_request_id(outcome.body)
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
                    headers=safe_headers(outcome.headers),
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
                self._auth.invalidate(token)
                refreshed_token = True
                delay = 0.0
            elif status == 429:
                # Throttled: the gateway's answer about the pace, not about the call, so it does not count
                # towards max_attempts (two runs sharing an access key must not fail calls); max_total_s bounds it.
                throttled += 1
                delay = policy.delay(throttled - 1, self._rng, retry_after)
            elif outcome.retryable:
                delay = policy.delay(attempt - throttled - 1, self._rng, retry_after)
            if delay is not None:
                elapsed = self._clock() - start
                if status != 429 and attempt - throttled >= policy.max_attempts:
                    delay, stop_reason = None, f"{policy.max_attempts} attempts made"
                elif elapsed + delay >= policy.max_total_s:
                    delay = None
                    stop_reason = f"the next try would start after the {policy.max_total_s:g} s budget"

            body = outcome.body
            if delay is not None and isinstance(body, bytes) and len(body) > HISTORY_IN_MEMORY_BYTES:
                # It waits in the history through the back-off (with many calls waiting): in a file.
                body = spill_quietly(body, self._spool_dir)
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

    async def _attempt(self, call: Call, headers: dict[str, str], *, timeout_s: float) -> Outcome:
        # The least busy pool: with at most `concurrency` attempts in flight (the semaphore) it always has a
        # free connection slot, so no attempt queues inside httpcore.
        index = min(range(len(self._busy)), key=self._busy.__getitem__)
        self._busy[index] += 1
        try:
            return await send(self._pools[index], call, headers, timeout_s=timeout_s,
                              max_body_bytes=self._max_body_bytes, spool_dir=self._spool_dir)
        finally:
            self._busy[index] -= 1

    def _fail(
        self,
        call: Call,
        history: list[AttemptRecord],
        *,
        attempts: int,
        token: iam.IamToken | None,
        outcome: Outcome,
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
                headers=safe_headers(outcome.headers),
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
