"""Query-string handling: parsing as the signer does, label selectors, and k8s-style continue paging."""

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable
from urllib.parse import unquote

from pipeline.simulator import errors

MAX_LIMIT = 500


def parse_query(raw: str) -> dict[str, str]:
    """Decode pairs the way the signer does: a '+' is a literal plus (the SDK sends spaces as %20)."""
    out: dict[str, str] = {}
    for item in raw.split("&") if raw else ():
        if item:
            key, _, value = item.partition("=")
            out.setdefault(unquote(key), unquote(value))
    return out


_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_REQUIREMENT = re.compile(rf"^(?:(?P<not>!)\s*(?P<nkey>{_KEY})|(?P<key>{_KEY})\s*(?:(?P<op>==|=|!=)\s*(?P<value>.*))?)$")


def parse_selector(text: str) -> Callable[[dict[str, str]], bool]:
    """A Kubernetes equality-based label selector: `k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-joined (AND).

    The pool API calls its parameter "resource pool tag filtering" and documents no grammar; this is the
    k8s one the API is modelled on. Anything else is a 400, as a bad query is.
    """
    requirements = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = _REQUIREMENT.match(part)
        if not m:
            raise errors.bad_request()
        if m["not"]:
            requirements.append((m["nkey"], "absent", ""))
        elif m["op"] is None:
            requirements.append((m["key"], "exists", ""))
        else:
            requirements.append((m["key"], "!=" if m["op"] == "!=" else "=", m["value"].strip()))

    def matches(labels: dict[str, str]) -> bool:
        for key, op, value in requirements:
            present = key in labels
            if op == "exists" and not present:
                return False
            if op == "absent" and present:
                return False
            if op == "=" and labels.get(key) != value:
                return False
            if op == "!=" and present and labels[key] == value:
                return False
        return True

    return matches


def parse_limit(query: dict[str, str], default: int = MAX_LIMIT) -> int:
    """The page size asked for; `default` when none is sent or 0 (the server default, 500 on the service)."""
    raw = query.get("limit")
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) > MAX_LIMIT:
        raise errors.bad_request()
    return int(raw) or default  # 0 means the server default


def _scope_tag(scope: str) -> str:
    return hashlib.blake2b(scope.encode(), digest_size=6).hexdigest()


def encode_continue(offset: int, scope: str) -> str:
    """Opaque token: the next offset, bound to the listing it came from (a token of another list is a 400)."""
    raw = json.dumps({"o": offset, "s": _scope_tag(scope)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str, scope: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset = data["o"]
        if data["s"] != _scope_tag(scope) or not isinstance(offset, int) or offset < 0:
            raise ValueError
        return offset
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise errors.bad_request() from None


def page(items: list, query: dict[str, str], scope: str, default_limit: int = MAX_LIMIT) -> tuple[list, dict]:
    """One page of `items` and the list metadata: `{continue, remainingItemCount}`, or `{}` on the last.
    `default_limit` is the page size when the request sends no limit."""
    limit = parse_limit(query, default_limit)
    token = query.get("continue") or ""
    offset = decode_continue(token, scope) if token else 0
    chunk = items[offset:offset + limit]
    end = offset + len(chunk)
    if end < len(items):
        return chunk, {"continue": encode_continue(end, scope), "remainingItemCount": len(items) - end}
    return chunk, {}
