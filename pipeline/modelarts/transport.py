"""The wire: the httpx connection pools a client sends through (TLS trust, pool sizing), one attempt sent and
its body read within the attempt's time budget (`send`), and what came of it (`Outcome`: a status and body, or
why there is none, and whether another attempt may help)."""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipeline.modelarts.body import Body, DecodingError, SpoolError, read_body
from pipeline.modelarts.calls import Call
from pipeline.modelarts.errors import truncate
from pipeline.modelarts.retry import is_retryable_status

logger = logging.getLogger(__name__)

# Response headers that carry a credential: masked before a response is exposed anywhere.
SECRET_RESPONSE_HEADERS = frozenset({"x-subject-token"})
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


@dataclass
class Outcome:
    status: int | None
    headers: httpx.Headers | None
    body: Body
    reason: str
    retryable: bool
    message: str | None = None  # transport errors only


def make_pools(concurrency: int, verify: bool | str | os.PathLike[str] | ssl.SSLContext, timeout_s: float,
               trust_env: bool) -> list[httpx.AsyncClient]:
    """Enough pools of at most CONNECTIONS_PER_POOL connections for `concurrency` attempts in flight."""
    ssl_verify = _ssl_verify(verify)
    shards = -(-concurrency // CONNECTIONS_PER_POOL)
    per_pool = -(-concurrency // shards)
    return [
        httpx.AsyncClient(
            verify=ssl_verify,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool),
            follow_redirects=False,
            trust_env=trust_env,
        )
        for _ in range(shards)
    ]


async def send(http: httpx.AsyncClient, call: Call, headers: dict[str, str], *, timeout_s: float,
               max_body_bytes: int, spool_dir: Path | None) -> Outcome:
    """One attempt: send, read the body (capped at `max_body_bytes` after decoding; a 2xx body checked to be
    whole JSON as it arrives), all within `timeout_s`. Never raises for what the server or network does."""
    url = call.base.origin + call.full_path + (f"?{call.query}" if call.query else "")
    request = http.build_request(
        call.method, url, headers=headers, content=call.body or None, timeout=httpx.Timeout(timeout_s)
    )
    sent_target = call.full_path + (f"?{call.query}" if call.query else "")
    if request.url.raw_path.decode("ascii") != sent_target:
        # The signature covers this exact path and query; if httpx re-encoded it, every call would be a 401.
        raise RuntimeError(f"httpx altered the request target {sent_target!r} -> {request.url.raw_path!r}")
    try:
        # httpx's timeouts are per read; a server dripping bytes would never trip them. Bound the attempt:
        # sending, reading and checking the body all happen inside it, and count towards its duration.
        async with asyncio.timeout(timeout_s):
            response = await http.send(request, stream=True)
            try:
                read = await read_body(
                    response.aiter_raw(), response.headers.get_list("content-encoding", split_commas=True),
                    max_bytes=max_body_bytes, spool_dir=spool_dir,
                    check_json=200 <= response.status_code < 300,
                )
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return Outcome(None, None, b"", "timeout", True,
                       f"no complete answer from {call.base.host} within {timeout_s:.3g} s")
    except httpx.ConnectError as exc:
        if is_certificate_error(exc):
            return Outcome(None, None, b"", "tls_error", False,
                           f"TLS certificate of {call.base.host} not trusted: {exc_text(exc)}")
        # The host and the cause ("Name or service not known", "Connection refused") reach fetches.error_msg.
        return Outcome(None, None, b"", "connect_error", True, f"cannot connect to {call.base.host}: {exc_text(exc)}")
    except httpx.RemoteProtocolError as exc:
        text = str(exc).lower()
        if "complete message body" in text or "incomplete" in text:
            reason = "truncated_body"
        elif "disconnected" in text or "reset" in text:
            reason = "connection_reset"
        else:
            reason = "protocol_error"
        return Outcome(None, None, b"", reason, True, exc_text(exc))
    except (httpx.ReadError, httpx.WriteError, httpx.CloseError) as exc:
        return Outcome(None, None, b"", "connection_reset", True, exc_text(exc))
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        return Outcome(None, None, b"", "invalid_url", False, exc_text(exc))
    except httpx.TransportError as exc:
        return Outcome(None, None, b"", "transport_error", True, exc_text(exc))
    except (httpx.DecodingError, DecodingError) as exc:
        return Outcome(None, None, b"", "decoding_error", True, exc_text(exc))
    except SpoolError as exc:  # a large body could not be written to disk: not the server's doing
        return Outcome(None, None, b"", "spool_error", False, exc_text(exc))

    status = response.status_code
    headers_out = response.headers
    body = read.body
    if read.too_large:
        # The same server would send it again: not retried. Its first bytes are the evidence.
        return Outcome(status, headers_out, body, "body_too_large", False,
                        f"the {status} answer is larger than {mib(max_body_bytes)} after decoding "
                        f"(fetch.max_body_mb); its first {len(body)} bytes are kept")
    if 200 <= status < 300:
        if read.shape != "ok":
            # A body cut short but framed as complete (a proxy's doing, or the simulator's "truncate" fault)
            # is transient; every API we call answers JSON, so anything else is worth another try.
            return Outcome(status, headers_out, body, read.shape or "truncated_json", True)
        return Outcome(status, headers_out, body, "ok", False)
    return Outcome(status, headers_out, body, f"http_{status}", is_retryable_status(status))


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


def mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def safe_headers(headers: httpx.Headers) -> httpx.Headers:
    if not any(name.lower() in SECRET_RESPONSE_HEADERS for name in headers.keys()):
        return headers
    return httpx.Headers(
        [(k, "***" if k.lower() in SECRET_RESPONSE_HEADERS else v) for k, v in headers.multi_items()]
    )


def is_certificate_error(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def exc_text(exc: BaseException) -> str:
    """Exception text for messages: type and message, bounded. httpx messages carry no headers."""
    text = str(exc) or type(exc).__name__
    return truncate(f"{type(exc).__name__}: {text}" if str(exc) else text, 300)
