"""IAM password -> X-Auth-Token exchange (reference section 6.4), and the token cache.

A token is scoped: to a project (`("project", project_id)`) for ModelArts calls, since the service rejects
a token of another project with 403 ModelArts.0210, or to the user's domain (`("domain", name)`) for IAM's
own project listing. One token is cached per scope and renewed shortly before it expires.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pipeline.modelarts.credentials import TokenCredentials

TOKENS_PATH = "/v3/auth/tokens"
# Skip the service catalog: it is the bulk of the response and we only need the token and its expiry.
TOKENS_QUERY = "nocatalog=true"
TOKEN_CONTENT_TYPE = "application/json;charset=utf8"
SUBJECT_TOKEN_HEADER = "X-Subject-Token"

Scope = tuple[str, str]


def project_scope(project_id: str) -> Scope:
    return ("project", project_id)


def domain_scope(domain_name: str) -> Scope:
    return ("domain", domain_name)


def token_request_body(credentials: TokenCredentials, scope: Scope) -> bytes:
    kind, value = scope
    if kind == "project":
        scope_doc: dict = {"project": {"id": value}}
    elif kind == "domain":
        scope_doc = {"domain": {"name": value}}
    else:
        raise ValueError(f"unknown token scope kind {kind!r}")
    doc = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": credentials.username,
                        "password": credentials.password,
                        "domain": {"name": credentials.domain},
                    }
                },
            },
            "scope": scope_doc,
        }
    }
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class IamToken:
    """A token and when to stop using it, on the local monotonic clock (immune to wall-clock jumps)."""

    value: str = field(repr=False)
    scope: Scope
    expires_at: datetime
    lifetime_s: float
    refresh_at: float  # monotonic time after which a new token is fetched before use
    expires_mono: float

    def usable(self, now_mono: float) -> bool:
        return now_mono < self.refresh_at


def parse_token_response(
    *,
    subject_token: str | None,
    body: dict,
    scope: Scope,
    requested_mono: float,
    requested_wall: datetime,
    refresh_margin_s: float,
    refresh_fraction: float,
) -> IamToken:
    """Build the cache entry from a 201 answer; ValueError if the answer lacks the token or a usable expiry.

    The lifetime is expires_at - issued_at when both are given: both come from the server's clock, so a skew
    between our clock and IAM's does not shorten or stretch it. It is counted from when we *sent* the request,
    which errs on the early side. Renewal happens when less than min(margin, fraction x lifetime) is left: the
    fixed margin (10 min) suits real 24 h tokens, and the fraction keeps a short-lived token from being
    renewed on every single call.
    """
    if not subject_token:
        raise ValueError(f"IAM answered without the {SUBJECT_TOKEN_HEADER} header")
    token_doc = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token_doc, dict) or not isinstance(token_doc.get("expires_at"), str):
        raise ValueError("IAM token answer has no token.expires_at")
    expires_at = _parse_time(token_doc["expires_at"])
    issued_raw = token_doc.get("issued_at")
    if isinstance(issued_raw, str):
        lifetime = (expires_at - _parse_time(issued_raw)).total_seconds()
    else:
        lifetime = (expires_at - requested_wall).total_seconds()
    if lifetime <= 0:
        raise ValueError(f"IAM issued a token that is already expired (expires_at {token_doc['expires_at']})")
    margin = min(refresh_margin_s, refresh_fraction * lifetime)
    expires_mono = requested_mono + lifetime
    return IamToken(
        value=subject_token,
        scope=scope,
        expires_at=expires_at,
        lifetime_s=lifetime,
        refresh_at=expires_mono - margin,
        expires_mono=expires_mono,
    )


def _parse_time(text: str) -> datetime:
    # IAM writes "2026-11-29T06:00:00.123000Z"; fromisoformat reads that from Python 3.11 on.
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"unreadable IAM timestamp {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
