"""Who is calling: AK/SK signature checks in the gateway's order (reference section 8.3), and IAM tokens.

The signature is recomputed from the request exactly as received (raw path and query, received header
values), so a client that sends other bytes than it signed fails here as it would against the gateway.
"""

import base64
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from pipeline.modelarts import signer
from pipeline.simulator import errors
from pipeline.simulator.projects import ProjectInfo


@dataclass(frozen=True)
class Identity:
    key: str  # what rate limits are counted by: the AK, or the token's user
    ak: str | None = None
    token_project: str | None = None  # a token is scoped to one project; AK/SK is not
    domain_token: bool = False  # a domain-scoped token: good for IAM calls, not for project APIs


@dataclass(frozen=True)
class Token:
    value: str
    user: str
    domain_name: str
    project: ProjectInfo | None  # None: scoped to the domain (account)
    issued_at: float
    expires_at: float


def iam_time(epoch: float) -> str:
    """IAM's timestamp style: 2026-11-02T07:45:39.917000Z."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class TokenStore:
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.time):
        self.ttl_s = ttl_s
        self._clock = clock
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()

    def issue(self, user: str, domain_name: str, project: ProjectInfo | None) -> Token:
        now = self._clock()
        # Real tokens are long base64 blobs starting with "MII"; only their opacity matters here.
        value = "MII" + base64.b64encode(os.urandom(180)).decode().replace("+", "-").replace("/", "_")
        token = Token(value, user, domain_name, project, now, now + self.ttl_s)
        with self._lock:
            self._tokens[value] = token
        return token

    def check(self, value: str) -> Token:
        with self._lock:
            token = self._tokens.get(value)
        if token is None:
            raise errors.unauthorized(errors.MSG_TOKEN_UNKNOWN)
        if self._clock() >= token.expires_at:
            raise errors.unauthorized(errors.MSG_TOKEN_EXPIRED.format(expires_at=iam_time(token.expires_at)))
        return token


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


class Authenticator:
    def __init__(
        self,
        ak: str,
        sk: str,
        tokens: TokenStore,
        security_token: str | None = None,
        max_skew_s: float = 900.0,
        clock: Callable[[], float] = time.time,
    ):
        self._ak = ak
        self._sk = sk
        self._security_token = security_token
        self._tokens = tokens
        self._max_skew_s = max_skew_s
        self._clock = clock

    def claimed_ak(self, headers: Mapping[str, str]) -> str | None:
        """The AK a request names, valid or not (for the request log)."""
        value = _header(headers, "authorization")
        if not value:
            return None
        try:
            return signer.parse_authorization(value).access
        except ValueError:
            return None

    def authenticate(self, method: str, path: str, raw_query: str, headers: Mapping[str, str],
                     body: bytes) -> Identity:
        authorization = _header(headers, "authorization")
        if not authorization:
            token = _header(headers, "x-auth-token")
            if token:
                t = self._tokens.check(token)
                if t.project is None:
                    return Identity(key=f"user:{t.user}", domain_token=True)
                return Identity(key=f"user:{t.user}", token_project=t.project.id)
            raise errors.unauthorized(errors.MSG_NO_CREDENTIAL)
        try:
            auth = signer.parse_authorization(authorization)
        except ValueError:
            raise errors.unauthorized(errors.MSG_BAD_AUTHORIZATION) from None
        if auth.access != self._ak:
            raise errors.unauthorized(errors.MSG_AK_UNKNOWN.format(ak=auth.access))
        self._check_date(auth, headers)
        if self._security_token is not None:
            # A temporary AK is only valid together with its (signed) security token.
            sent = _header(headers, "x-security-token")
            if sent != self._security_token or "x-security-token" not in auth.signed_headers:
                raise errors.unauthorized(errors.MSG_SECURITY_TOKEN)
        ok = signer.verify(sk=self._sk, auth=auth, method=method, path=path, raw_query=raw_query,
                           headers=headers, body=body)
        if not ok:
            raise errors.unauthorized(errors.MSG_SIGNATURE_MISMATCH)
        return Identity(key=f"ak:{auth.access}", ak=auth.access)

    def _check_date(self, auth: signer.Authorization, headers: Mapping[str, str]) -> None:
        sdk_date = _header(headers, "x-sdk-date") or ""
        now = self._clock()
        server = datetime.fromtimestamp(now, timezone.utc).strftime(signer.DATE_FORMAT)
        expired = errors.unauthorized(errors.MSG_SIGNATURE_EXPIRED.format(signed=sdk_date, server=server))
        if "x-sdk-date" not in auth.signed_headers:
            raise expired
        try:
            signed_at = signer.parse_date(sdk_date.strip()).timestamp()
        except ValueError:
            raise expired from None
        if abs(now - signed_at) > self._max_skew_s:
            raise expired
