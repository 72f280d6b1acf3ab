"""HTTP/1.1 transport for the simulated API on the standard library's threading server.

Two details keep keep-alive fast: TCP_NODELAY on every accepted socket, and each response written with a
single send (status line, headers and body in one buffer). Otherwise Nagle's algorithm and the client's
delayed ACK add ~40 ms to every request on a reused connection.
"""

import logging
import socket
import socketserver
import struct
import sys
import threading
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pipeline.simulator.app import Api, Reply, Request, encode_json, new_request_id
from pipeline.simulator.errors import server_error

log = logging.getLogger(__name__)
_LOOPBACK = {"127.0.0.1", "::1"}


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a stalled handler must never keep the process alive
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops SYNs when a client opens dozens of connections at once, and
    # each dropped SYN costs a 1 s retransmission: a real gateway never shows that artefact.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], api: Api):
        self.api = api
        self.stopping = threading.Event()  # wakes stalled handlers at shutdown
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup we neither need nor want to wait on.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = host, port

    def get_request(self):
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def process_request(self, request, client_address):
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        # A client that vanishes mid-keep-alive (reset, timeout) is ordinary here, not worth a traceback.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        log.exception("simulator connection from %s failed", client_address[0])

    def drop_connections(self) -> None:
        """Close kept-alive connections too: a stopped simulator must not go on answering on them."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SimulatorHTTPServer

    def do_GET(self):
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def do_HEAD(self):
        self._serve(head=True)

    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        pass  # request logs would be noise; the simulator keeps its own structured request records

    def _serve(self, head: bool = False) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        request = Request(
            method=self.command,
            target=self.path,
            headers=dict(self.headers.items()),
            body=body,
            client=self.client_address[0],
        )
        if request.target.startswith("/_simulator/") and request.client not in _LOOPBACK:
            self.close_connection = True
            return
        try:
            reply = self.server.api.handle(request)
        except Exception:  # a simulator bug must surface as a 500, not a hung client
            log.exception("simulator failed on %s %s", self.command, self.path.partition("?")[0])
            rid = new_request_id()
            reply = Reply(500, encode_json(server_error(500).body(rid)), rid)
        if reply.delay_s > 0 and self.server.stopping.wait(reply.delay_s):
            self.close_connection = True
            return
        if reply.reset:
            self._reset()
            return
        self._send(reply, head)

    def _send(self, reply: Reply, head: bool) -> None:
        payload = reply.body[: len(reply.body) // 2] if reply.truncate else reply.body
        lines = [
            f"HTTP/1.1 {reply.status} {_reason(reply.status)}",
            "Server: api-gateway",
            f"Date: {formatdate(usegmt=True)}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
            f"X-Request-Id: {reply.request_id}",
        ]
        lines += [f"{name}: {value}" for name, value in reply.headers]
        if self.close_connection:
            lines.append("Connection: close")
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head_bytes if head else head_bytes + payload)
        except OSError:  # the client gave up (e.g. timed out during a stall)
            self.close_connection = True

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout turns close() into a RST: the client sees "connection reset".
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
