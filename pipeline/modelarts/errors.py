"""Typed errors of the ModelArts client, and the SDK-compatible parsing of error bodies.

Every error raised for an API call carries what the fetch table records (status, error_code, error_msg,
request_id, attempts, method, path) and the per-attempt history with the raw bodies, so a failure can be
landed as faithfully as a success. Messages are built from those fields only: never from request headers,
and with any known credential value scrubbed in all its forms (see `masking`), because gateway messages echo
the AK ("Get secretKey failed,ak:<AK>,...").
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pipeline.modelarts.masking import MASK, masker_for

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.modelarts.body import Body
    from pipeline.modelarts.responses import ApiResponse, AttemptRecord

# Long enough for any real gateway or service message, short enough that an HTML error page from a proxy
# does not flood a log line or a table cell.
MAX_MESSAGE_CHARS = 500
REDACTED = MASK


class CredentialsError(ValueError):
    """Credentials are missing or unusable. Names the variable or field, never its value."""


class ModelArtsError(Exception):
    """An API call failed, after whatever retries the policy allowed.

    `status` is None when no HTTP response was received (transport errors). `history` holds one record per
    attempt, each with its raw body bytes; `response` is the last HTTP response, if there was one. `reason`
    is the last attempt's reason ("http_404", "timeout", "truncated_json", ...).
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        error_code: str | None = None,
        error_msg: str | None = None,
        request_id: str | None = None,
        attempts: int = 0,
        elapsed_ms: float | None = None,
        method: str | None = None,
        path: str | None = None,
        query: str | None = None,
        reason: str | None = None,
        retry_after_s: float | None = None,
        response: ApiResponse | None = None,
        history: Iterable[AttemptRecord] = (),
        pages: Iterable[ApiResponse] = (),
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.error_msg = error_msg
        self.request_id = request_id
        self.attempts = attempts
        self.elapsed_ms = elapsed_ms  # from the first attempt's start to giving up, backoff sleeps included
        self.method = method
        self.path = path
        self.query = query  # the exact query string sent (no credentials ever travel in it)
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.response = response
        self.history = tuple(history)
        # For paged listings: the pages fetched before this failure, so they can still be landed.
        self.pages = tuple(pages)
        super().__init__(message or self._describe())

    @property
    def body(self) -> Body | None:
        """Raw body of the last attempt that got a response (None if none did): bytes, or a SpilledBody."""
        for record in reversed(self.history):
            if record.status is not None:
                return record.body
        return None

    def _describe(self) -> str:
        head = f"HTTP {self.status}" if self.status is not None else "no response"
        if self.error_code:
            head += f" {self.error_code}"
        text = f"{head}: {self.error_msg}" if self.error_msg else head
        where = f"{self.method} {self.path}" if self.method and self.path else (self.path or "")
        details = [d for d in (where, f"request_id={self.request_id}" if self.request_id else "") if d]
        details.append(f"attempts={self.attempts}")
        return f"{text} ({', '.join(details)})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, error_code={self.error_code!r}, "
            f"request_id={self.request_id!r}, attempts={self.attempts!r}, path={self.path!r})"
        )


class ClientRequestError(ModelArtsError):
    """A 4xx answer. Not retried (except 429, and one token refresh on 401 in token mode)."""


class BadRequestError(ClientRequestError):
    """400: the request is wrong (bad filter value, invalid paging token)."""


class AuthenticationError(ClientRequestError):
    """401: signature rejected, unknown AK, expired signature date, bad or expired IAM token."""


class PermissionDeniedError(ClientRequestError):
    """403: the credential may not call this API or read this project."""


class NotFoundError(ClientRequestError):
    """404: unknown pool (ModelArts.50015001) or unknown API (APIGW.0101)."""


class ThrottledError(ClientRequestError):
    """429: still throttled when the retry budget ran out."""


class ServerError(ModelArtsError):
    """5xx: still failing when the retry budget ran out, or a 5xx that is not worth retrying (501)."""


class TransportError(ModelArtsError):
    """No HTTP response: timeout, refused or reset connection, protocol error. `status` is None."""


class TlsError(TransportError):
    """The server's certificate was not trusted. Deterministic, so it is never retried."""


class MalformedResponseError(ModelArtsError):
    """A success status whose body never parsed as JSON. The raw bytes are in `body` / `history`."""


class PaginationError(ModelArtsError):
    """A paged listing did not terminate (a repeated continue token, or too many pages)."""


class BodyTooLargeError(ModelArtsError):
    """A body larger than the client's cap (after decoding). Not retried; `body` holds its first bytes."""


def error_class_for(status: int | None) -> type[ModelArtsError]:
    if status is None:
        return TransportError
    specific = {
        400: BadRequestError,
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        429: ThrottledError,
    }
    if status in specific:
        return specific[status]
    if 400 <= status < 500:
        return ClientRequestError
    if status >= 500:
        return ServerError
    return ModelArtsError


def parse_error_body(status: int, body: bytes) -> tuple[str, str, str | None]:
    """(error_code, error_msg, body request_id) the way huaweicloudsdkcore's DefaultExceptionHandler reads it.

    Pairs are looked up in order error_code/error_msg, errorCode/errorMsg, code/message, then inside nested
    objects (IAM answers `{"error": {"code": 401, "message": ..., "title": ...}}`). A body that is not a JSON
    object gives its text as the message; no code gives str(status). The SDK ignores a body `request_id`; we
    return it so the caller can fall back to it when the X-Request-Id header is missing (APIG puts it there).
    """
    text = body.decode("utf-8", errors="replace")
    code: str | None = None
    msg: str | None = None
    body_request_id: str | None = None
    try:
        # A hostile body (nested past the parser's depth, or absurdly large) is a message to show, not a crash.
        doc = json.loads(text) if text.strip() else None
        if isinstance(doc, dict):
            found = _find_pair(doc)
            if found:
                code, msg = found
            else:
                # Half a pair is still better than nothing (the SDK would drop it and show the whole body).
                lone = doc.get("error_code") or doc.get("errorCode") or doc.get("code")
                code = _text(lone) if lone not in (None, "") else None
            rid = doc.get("request_id")
            if isinstance(rid, str) and rid:
                body_request_id = rid
    except (ValueError, RecursionError, MemoryError):
        code = msg = body_request_id = None
    if not msg:
        msg = text
    return truncate(code or str(status), 100), truncate(msg), body_request_id


_PAIRS = (("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message"))


def _find_pair(doc: dict[str, Any], depth: int = 0) -> tuple[str, str] | None:
    for code_key, msg_key in _PAIRS:
        if code_key in doc and msg_key in doc:
            return _text(doc[code_key]), _text(doc[msg_key])
    if depth >= 8:  # a hostile or absurd body must not recurse without bound
        return None
    for value in doc.values():
        if isinstance(value, dict):
            found = _find_pair(value, depth + 1)
            if found:
                return found
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return truncate(json.dumps(value))
    return truncate(str(value))


def truncate(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = " ".join(text.split()) if "\n" in text or "\r" in text else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def redact(text: str | None, secrets: Iterable[str | None]) -> str | None:
    """Replace every form (see `masking.secret_forms`) of each non-trivial secret value with ***."""
    if not text:
        return text
    return masker_for(tuple(secrets)).mask_text(text)
