"""A tiny loopback HTTP/1.1 server whose every answer is scripted by the test.

For behaviour the simulator cannot pin exactly (one 503 then a 200, a body cut at byte N, a reset on the
third request). Each response is written with one `sendall` on a TCP_NODELAY socket, so the client sees it
arrive whole, and faults are real socket events (RST, FIN without a response, a short body).
The server binds 127.0.0.1 on a free port, runs in daemon threads and stops when its `with` block ends.
"""

from __future__ import annotations

import gzip
import json
import socket
import socketserver
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import unquote


@dataclass(frozen=True)
class Received:
    t: float  # time.monotonic() when the request was fully read
    method: str
    target: str  # raw request target, exactly as sent (path?query)
    headers: dict[str, str]  # lowercased names
    raw_headers: tuple[tuple[str, str], ...]  # as sent: (name, value)
    body: bytes
    wall: float = 0.0  # time.time() at the same moment, to compare with HTTP-dates

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def raw_query(self) -> str:
        return self.target.partition("?")[2]

    @property
    def query(self) -> dict[str, str]:
        pairs = [p.partition("=") for p in self.raw_query.split("&") if p]
        return {unquote(k): unquote(v) for k, _, v in pairs}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes | dict | list | str = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    # None: answer normally. "reset": abort with RST, no answer. "close": FIN without an answer.
    # "short_body": full Content-Length announced, half the body sent, then FIN.
    action: str | None = None
    delay_s: float = 0.0  # wait before answering (a stall when longer than the client's timeout)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


def error_reply(status: int, code: str, msg: str, request_id: str | None = None, **headers: str) -> Reply:
    body = {"error_code": code, "error_msg": msg}
    hdrs = dict(headers)
    if request_id:
        body["request_id"] = request_id
        hdrs.setdefault("X-Request-Id", request_id)
    return Reply(status, body, {k.replace("_", "-"): v for k, v in hdrs.items()})


class Script:
    """Replies in order; once used up, every further request gets `then`."""

    def __init__(self, replies: Iterable[Reply] = (), then: Reply | None = None) -> None:
        self._replies = list(replies)
        self._then = then or Reply(200, {"ok": True})
        self._lock = threading.Lock()

    def __call__(self, received: Received) -> Reply:
        with self._lock:
            return self._replies.pop(0) if self._replies else self._then


_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(15)
            if isinstance(sock, ssl.SSLSocket):
                sock.do_handshake()
            self._serve(sock)
        except (OSError, ssl.SSLError, ValueError):
            pass  # the client went away or refused our certificate: nothing to answer

    def _serve(self, sock: socket.socket) -> None:
        buf = b""
        owner = self.server.owner
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            raw_headers = tuple((n.strip(), v.strip()) for n, _, v in (ln.partition(":") for ln in lines[1:]))
            headers = {n.lower(): v for n, v in raw_headers}
            length = int(headers.get("content-length", "0"))
            while len(buf) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
            body, buf = buf[:length], buf[length:]
            received = Received(time.monotonic(), method, target, headers, raw_headers, body, time.time())
            with owner.lock:
                owner.requests.append(received)
                owner.in_flight += 1
                owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
            try:
                reply = owner.script(received)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if not self._answer(sock, reply):
                    return
            finally:
                with owner.lock:
                    owner.in_flight -= 1

    @staticmethod
    def _answer(sock: socket.socket, reply: Reply) -> bool:
        if reply.action == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return False
        if reply.action == "close":
            sock.close()
            return False
        payload = reply.payload()
        headers = {"Content-Type": "application/json", "Date": formatdate(usegmt=True), **reply.headers}
        headers["Content-Length"] = str(len(payload))
        head = f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        if reply.action == "short_body":
            sock.sendall(head.encode("latin-1") + payload[: len(payload) // 2])
            sock.close()
            return False
        sock.sendall(head.encode("latin-1") + payload)
        return True


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    # socketserver's default backlog of 5 drops SYNs under a burst of connects; the retransmission costs 1 s.
    request_queue_size = 128
    owner: ScriptedServer

    def __init__(self, owner: ScriptedServer, tls: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.tls = tls
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self):  # type: ignore[override]
        sock, addr = super().get_request()
        with self.owner.lock:
            self.owner.connections += 1
        if self.tls is not None:
            # Handshake in the handler thread, so that a client refusing the certificate cannot stall accept().
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr


class ScriptedServer:
    def __init__(self, script: Callable[[Received], Reply] | Iterable[Reply] = (), *, tls: ssl.SSLContext | None = None):
        self.script = script if callable(script) else Script(script)
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.connections = 0  # TCP connections accepted
        self._server = _TCPServer(self, tls)
        host, port = self._server.server_address[:2]
        self.url = f"{'https' if tls else 'http'}://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def deep_json(depth: int, head: bytes = b'{"items":', tail: bytes = b"}") -> bytes:
    """A complete JSON document nested `depth` levels deep inside `head`...`tail` (past json.loads' limit)."""
    return head + b"[" * depth + b"]" * depth + tail


def gzip_bomb(inflated: int, head: bytes = b'{"items": [{"metadata": {"name": "', fill: bytes = b"A",
              tail: bytes = b'"}}]}', layers: int = 1) -> bytes:
    """A gzip body that inflates to about `inflated` bytes of JSON-looking text, made a MiB at a time (never
    held inflated). `layers` > 1 gzips the result again, for `Content-Encoding: gzip, gzip`."""
    co = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [co.compress(head)]
    block = fill * (1 << 20)
    for _ in range(max(0, inflated - len(head) - len(tail)) >> 20):
        out.append(co.compress(block))
    out += [co.compress(tail), co.flush()]
    body = b"".join(out)
    for _ in range(layers - 1):
        body = gzip.compress(body, 9)
    return body
