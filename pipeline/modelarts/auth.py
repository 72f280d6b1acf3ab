"""How a call authenticates: an AK/SK signature computed afresh for each attempt (X-Sdk-Date must be fresh
whatever the queueing was), or an IAM token (X-Auth-Token) per scope, fetched once for a burst of callers
(single flight: N parallel logins with a wrong password would count N times towards IAM's lock-out), cached
until shortly before it expires, and dropped when the service rejects it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

import httpx

from pipeline.modelarts import iam, signer
from pipeline.modelarts.calls import Base, Call
from pipeline.modelarts.credentials import AkSkCredentials, Credentials, TokenCredentials
from pipeline.modelarts.errors import MalformedResponseError
from pipeline.modelarts.responses import ApiResponse

ExecuteRaw = Callable[[Call], Awaitable[tuple[ApiResponse, httpx.Headers]]]


class Authenticator:
    """The credentials' side of each request. `execute_raw`: the client's retry loop, which runs the IAM token
    request (a call like any other, with `auth="none"`)."""

    def __init__(self, credentials: Credentials, iam_base: Base, execute_raw: ExecuteRaw, *, user_agent: str,
                 clock: Callable[[], float], refresh_margin_s: float, refresh_fraction: float) -> None:
        self._credentials = credentials
        self._iam_base = iam_base
        self._execute_raw = execute_raw
        self._user_agent = user_agent
        self._clock = clock
        self._refresh_margin_s = refresh_margin_s
        self._refresh_fraction = refresh_fraction
        self._tokens: dict[iam.Scope, iam.IamToken] = {}
        self._token_fetches: dict[iam.Scope, asyncio.Future[iam.IamToken]] = {}

    def uses_token(self, call: Call) -> bool:
        return call.auth == "sign" and isinstance(self._credentials, TokenCredentials)

    def headers(self, call: Call, token: iam.IamToken | None) -> dict[str, str]:
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

    async def token(self, scope: iam.Scope | None) -> iam.IamToken:
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

    def invalidate(self, token: iam.IamToken) -> None:
        # Only drop the token we used: a concurrent caller may already have cached a fresh one.
        if self._tokens.get(token.scope) is token:
            del self._tokens[token.scope]

    async def _fetch_token(self, scope: iam.Scope) -> iam.IamToken:
        creds = self._credentials
        assert isinstance(creds, TokenCredentials)
        call = Call(
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
