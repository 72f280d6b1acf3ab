"""What a call gives back: `ApiResponse` (a success, with every attempt's record) and `AttemptRecord`; reading a
body as JSON without ever raising anything but ValueError; moving large bodies that wait in memory to files."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from pipeline.modelarts.body import HISTORY_IN_MEMORY_BYTES, IN_MEMORY_BYTES, Body, SpilledBody, spill

# `ApiResponse.json()` parses a spilled body only up to this size: Python objects take ~10-20x the JSON text.
MAX_PARSE_BYTES = 8 * IN_MEMORY_BYTES


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


OnAttempt = Callable[[AttemptRecord], Any]


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


def spilled_page(page: ApiResponse, spool_dir: Path | None) -> ApiResponse:
    body = page.body
    if not isinstance(body, bytes) or len(body) <= HISTORY_IN_MEMORY_BYTES:
        return page
    spilled = spill_quietly(body, spool_dir)
    if spilled is body:
        return page
    history = tuple(dataclasses.replace(r, body=spilled) if r.body is body else r for r in page.history)
    return dataclasses.replace(page, body=spilled, history=history)


def spill_quietly(body: bytes, spool_dir: Path | None) -> Body:
    """Spill to a file; if that fails (disk full), keep the bytes: memory is the lesser problem."""
    try:
        return spill(body, spool_dir)
    except OSError:
        return body


def body_request_id(body: Body) -> str | None:
    # Only an object's top-level request_id; bodies here are small enough that parsing twice is cheap.
    if isinstance(body, SpilledBody) or not body.lstrip().startswith(b"{") or b'"request_id"' not in body:
        return None
    try:
        doc = parse_json(body)
    except ValueError:
        return None
    rid = doc.get("request_id") if isinstance(doc, dict) else None
    return rid if isinstance(rid, str) and rid else None
