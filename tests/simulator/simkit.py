"""Helpers for the simulator tests: one signed (or unsigned) HTTP call against a running simulator."""

import http.client
import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

from pipeline.modelarts import signer


@dataclass
class Resp:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self):
        return json.loads(self.body)


def call(sim, method: str, path: str, query: str = "", *, sign: bool = True, ak: str | None = None,
         sk: str | None = None, headers: dict | None = None, body: bytes = b"", now: datetime | None = None,
         timeout: float = 10.0, sent_query: str | None = None) -> Resp:
    """`query` is signed; `sent_query` (default: the same) is what goes on the wire."""
    url = urlparse(sim.url)
    h = dict(headers or {})
    if sign:
        h = signer.sign(ak=ak or sim.ak, sk=sk or sim.sk, method=method, host=url.netloc, path=path,
                        query=query, headers=h, body=body, now=now)
    wire_query = query if sent_query is None else sent_query
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.request(method, path + (f"?{wire_query}" if wire_query else ""), body=body or None, headers=h)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def pools_path(project_id: str) -> str:
    return f"/v2/{project_id}/pools"
