"""SDK-HMAC-SHA256 request signing, as Huawei Cloud's API gateway checks it.

Pure functions, shared by the client (to sign) and the simulator (to verify). The rules follow
`huaweicloudsdkcore.signer.Signer` exactly (reference section 6.1); the tests hold us to the SDK's own
signer on generated requests.

The query string is built here and sent as-is, so the bytes on the wire equal the bytes signed: httpx's
`params=` would encode spaces as `+` and use another safe set.
"""

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_HASH = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

QueryValue = str | int | bool | list


def _encode(s: str) -> str:
    return quote(s, safe="~")


def _value_text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def canonical_query(params: Iterable[tuple[str, QueryValue]]) -> str:
    """Sorted, encoded query string: what is signed and also what is sent.

    Raw (unencoded) pairs sort by key then value; a list value expands to sorted repeated keys; spaces
    become %20, never '+'.
    """
    parts: list[str] = []
    for key, value in sorted(params, key=lambda kv: (kv[0], _sort_key(kv[1]))):
        k = _encode(key)
        if isinstance(value, list):
            for v in _sorted_raw(value):
                parts.append(f"{k}={_encode(_value_text(v))}")
        else:
            parts.append(f"{k}={_encode(_value_text(value))}")
    return "&".join(parts)


def _sort_key(value: QueryValue) -> tuple:
    # The SDK sorts raw (key, value) tuples as Python would; keep its order, with a total order on top
    # for value types Python cannot compare.
    if isinstance(value, list):
        return (1, [_value_text(x) for x in value])
    return (0, _value_text(value))


def _sorted_raw(values: list) -> list:
    # The SDK sorts a list value in place before expanding it: numbers numerically, strings by code point.
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=_value_text)


def canonical_query_from_raw(raw_query: str) -> str:
    """Canonical query of a received request (server side).

    Each pair is percent-decoded (a '+' stays a literal plus, as the SDK never sends '+' for space) and
    re-encoded, then sorted: what the sender must have signed.
    """
    if not raw_query:
        return ""
    pairs: list[tuple[str, QueryValue]] = []
    for item in raw_query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        pairs.append((unquote(key), unquote(value)))
    return canonical_query(pairs)


def canonical_uri(path: str) -> str:
    """Each decoded segment re-encoded with only '~' safe, always ending in '/'."""
    uri = "/".join(_encode(seg) for seg in unquote(path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def payload_hash(body: bytes, headers: Mapping[str, str]) -> str:
    if not body:
        return EMPTY_HASH
    for name, value in headers.items():
        if name.lower() == "x-sdk-content-sha256" and value:
            return value
    return hashlib.sha256(body).hexdigest()


def signed_header_names(headers: Mapping[str, str]) -> list[str]:
    """Every header whose name has no '_', lowercased and sorted (duplicates by case collapse)."""
    return sorted({name.lower() for name in headers if "_" not in name})


def canonical_request(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: list[str],
    body: bytes,
) -> str:
    lowered = {name.lower(): str(value).strip() for name, value in headers.items()}
    canonical_headers = "".join(f"{name}:{lowered.get(name, '')}\n" for name in signed_headers)
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            query,
            canonical_headers,
            ";".join(signed_headers),
            payload_hash(body, headers),
        ]
    )


def string_to_sign(canonical: str, sdk_date: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{sdk_date}\n{digest}"


def signature(sk: str, to_sign: str) -> str:
    return hmac.new(sk.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def format_date(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(DATE_FORMAT)


def parse_date(value: str) -> datetime:
    return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=timezone.utc)


def sign(
    *,
    ak: str,
    sk: str,
    method: str,
    host: str,
    path: str,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    now: datetime | None = None,
) -> dict[str, str]:
    """Headers to send: the given ones plus Host, X-Sdk-Date (unless present) and Authorization.

    `host` is the netloc (with a non-default port). `query` is the canonical query string, sent as-is.
    """
    out = dict(headers or {})
    content_type = _get(out, "content-type")
    if content_type and not content_type.startswith(("application/json", "application/bson")):
        out["X-Sdk-Content-Sha256"] = UNSIGNED_PAYLOAD
    sdk_date = _get(out, "x-sdk-date")
    if sdk_date is None:
        sdk_date = format_date(now or datetime.now(timezone.utc))
        out["X-Sdk-Date"] = sdk_date
    if _get(out, "host") is None:
        out["Host"] = host
    names = signed_header_names(out)
    canonical = canonical_request(method, path, query, out, names, body)
    sig = signature(sk, string_to_sign(canonical, sdk_date))
    out["Authorization"] = f"{ALGORITHM} Access={ak}, SignedHeaders={';'.join(names)}, Signature={sig}"
    return out


def _get(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


_AUTH_RE = re.compile(
    r"^(?P<alg>[A-Z0-9-]+) Access=(?P<ak>[^,\s]+), SignedHeaders=(?P<sh>[^,\s]+), Signature=(?P<sig>[0-9a-f]+)$"
)


@dataclass(frozen=True)
class Authorization:
    algorithm: str
    access: str
    signed_headers: list[str]
    signature: str


def parse_authorization(value: str) -> Authorization:
    """Split an Authorization header; ValueError if it is not the SDK-HMAC-SHA256 form."""
    match = _AUTH_RE.match(value.strip())
    if not match or match["alg"] != ALGORITHM:
        raise ValueError("unparseable Authorization header")
    return Authorization(match["alg"], match["ak"], match["sh"].split(";"), match["sig"])


def verify(
    *,
    sk: str,
    auth: Authorization,
    method: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
) -> bool:
    """Recompute the signature of a received request the way the gateway does, compare in constant time."""
    sdk_date = _get(headers, "x-sdk-date") or ""
    canonical = canonical_request(
        method, path, canonical_query_from_raw(raw_query), headers, auth.signed_headers, body
    )
    expected = signature(sk, string_to_sign(canonical, sdk_date))
    return hmac.compare_digest(expected, auth.signature)
