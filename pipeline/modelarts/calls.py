"""What one API call is before it is sent: method, base URL, encoded path and query, how it authenticates;
and the helpers that build paths safely (every value one percent-encoded segment)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from pipeline.modelarts import iam

JSON_CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class Base:
    origin: str  # scheme://host[:port]
    host: str  # the Host header value, which is also what gets signed
    prefix: str  # path prefix of the endpoint, "" or "/something"


@dataclass(frozen=True)
class Call:
    method: str
    base: Base
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


def parse_base(endpoint: str) -> Base:
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
    return Base(origin=f"{url.scheme}://{host}", host=host, prefix=url.raw_path.decode("ascii").rstrip("/"))


def segment(value: str, name: str) -> str:
    """One percent-encoded path segment; '/' is encoded too, so a value can never change the route."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return quote(value, safe="")


def present(pairs: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in pairs if v is not None]
