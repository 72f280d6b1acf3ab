"""Hostile answers over real loopback HTTP: deep nesting, bad bytes, HTML, huge and compressed bodies.

Whatever a server sends, the client ends the call with a typed result (a response or a ModelArtsError with its
reason), never with another exception, and never holds more than a bounded part of a body in memory.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import gzip
import json
import tracemalloc
import zlib

import pytest
from modelarts_testkit import AK, PASSWORD, PROJECT, SK
from scripted_server import Received, Reply, Script, ScriptedServer, deep_json, gzip_bomb

from pipeline.modelarts import (
    AkSkCredentials,
    BadRequestError,
    MalformedResponseError,
    ModelArtsClient,
    ModelArtsError,
    ServerError,
    TokenCredentials,
)
from pipeline.modelarts.body import EVIDENCE_BYTES, HISTORY_IN_MEMORY_BYTES, IN_MEMORY_BYTES, SpilledBody
from pipeline.modelarts.errors import BodyTooLargeError

CREDS = AkSkCredentials(AK, SK)
MiB = 1 << 20
DEEP = deep_json(1200)
POOL = {"metadata": {"name": "pool-1"}, "spec": {"scope": ["Train"]}}


def run(coro):
    return asyncio.run(coro)


def client(url: str, **kw) -> ModelArtsClient:
    kw.setdefault("backoff_base_s", 0.0)
    kw.setdefault("rate_limit", None)
    kw.setdefault("timeout_s", 10.0)
    return ModelArtsClient(url, kw.pop("creds", CREDS), **kw)


async def list_pools(url: str, **kw):
    async with client(url, **kw) as c:
        return await c.list_pools(PROJECT)


@functools.cache
def bomb(inflated: int, layers: int = 1) -> bytes:
    return gzip_bomb(inflated, layers=layers)


# ---------------------------------------------------------------------------------------------- nesting


def test_deep_nesting_in_a_200_is_a_whole_body():
    with ScriptedServer([Reply(200, DEEP, {"X-Request-Id": "r1"})]) as srv:
        resp = run(list_pools(srv.url))
    assert resp.body == DEEP and [r.reason for r in resp.history] == ["ok"]
    with pytest.raises(ValueError, match="nested too deeply"):
        resp.json()  # parsing it is refused with a ValueError, never a RecursionError


def test_deep_nesting_in_a_200_without_request_id_header():
    body = b'{"request_id": "rid-deep", "items":' + b"[" * 1200 + b"]" * 1200 + b"}"
    with ScriptedServer([Reply(200, body)]) as srv:
        resp = run(list_pools(srv.url))
    assert resp.body == body and resp.request_id is None  # unparsable: no body request id, and no crash


@pytest.mark.parametrize(("status", "cls"), [(400, BadRequestError), (503, ServerError), (500, ServerError)])
def test_deep_nesting_in_an_error_answer_is_that_error(status, cls):
    body = deep_json(1200, head=b'{"error_code": "X.1", "error_msg": ', tail=b"}")
    with ScriptedServer(Script([], then=Reply(status, body))) as srv:
        with pytest.raises(cls) as info:
            run(list_pools(srv.url, max_attempts=2))
    exc = info.value
    assert exc.status == status and exc.error_code == str(status)  # unparsable: the status stands in
    assert exc.body == body and exc.error_msg.startswith('{"error_code"') and len(exc.error_msg) <= 500


def test_deep_nesting_in_a_page_of_a_paged_listing():
    with ScriptedServer([Reply(200, deep_json(1200, head=b'{"metadata": {"continue": "t"}, "items":'))]) as srv:
        async def go():
            async with client(srv.url) as c:
                return await c.list_resource_flavors(PROJECT)
        with pytest.raises(MalformedResponseError) as info:
            run(go())
    assert info.value.reason == "unreadable_page" and len(info.value.pages) == 1  # the page is kept to land


def test_deep_nesting_in_an_iam_token_answer():
    body = deep_json(1200, head=b'{"token": {"expires_at": "2099-01-01T00:00:00Z", "x": ', tail=b"}}")

    def script(req: Received) -> Reply:
        return Reply(201, body, {"X-Subject-Token": "MIIT-canary-token-value"})

    creds = TokenCredentials("user", PASSWORD, "domain")
    with ScriptedServer(script) as srv:
        with pytest.raises(MalformedResponseError) as info:
            run(list_pools(srv.url, creds=creds))
    assert info.value.reason == "bad_token_response"


# ---------------------------------------------------------------------------------------------- bad bytes, HTML


def test_one_bad_byte_in_one_document_keeps_the_listing():
    body = json.dumps({"items": [POOL, {"metadata": {"name": "pool-2", "description": "@@"}}]}).encode()
    body = body.replace(b"@@", b"\xff\xfe")
    with ScriptedServer([Reply(200, body)]) as srv:
        resp = run(list_pools(srv.url))
    assert resp.body == body and resp.attempts == 1 and resp.history[0].reason == "ok"


def test_bad_bytes_in_a_page_do_not_stop_the_paging():
    first = json.dumps({"metadata": {"continue": "next"}, "items": [{"d": "@@"}]}).encode().replace(b"@@", b"\xff")

    def script(req: Received) -> Reply:
        return Reply(200, first) if "continue" not in req.query else Reply(200, {"metadata": {}, "items": []})

    with ScriptedServer(script) as srv:
        async def go():
            async with client(srv.url) as c:
                return await c.list_resource_flavors(PROJECT)
        pages = run(go())
    assert [p.body for p in pages][0] == first and len(pages) == 2


def test_an_html_page_with_200_is_not_json():
    html = b"<html><body><h1>Welcome to nginx!</h1></body></html>"
    with ScriptedServer([Reply(200, html), Reply(200, {"items": []})]) as srv:
        resp = run(list_pools(srv.url))
    assert [r.reason for r in resp.history] == ["not_json", "ok"]  # retried, like a cut body
    assert resp.history[0].body == html
    with ScriptedServer(Script([], then=Reply(200, html))) as srv:
        with pytest.raises(MalformedResponseError) as info:
            run(list_pools(srv.url, max_attempts=2))
    assert info.value.reason == "not_json" and "not JSON" in info.value.error_msg and info.value.body == html


# ---------------------------------------------------------------------------------------------- size and encoding


def test_a_gzip_bomb_stops_at_the_cap_and_is_not_retried():
    with ScriptedServer(Script([], then=Reply(200, bomb(64 * MiB), {"Content-Encoding": "gzip"}))) as srv:
        with pytest.raises(BodyTooLargeError) as info:
            run(list_pools(srv.url, max_body_bytes=4 * MiB))
        assert len(srv.requests) == 1
    exc = info.value
    assert exc.reason == "body_too_large" and exc.attempts == 1 and exc.status == 200
    assert "4 MiB" in exc.error_msg and "fetch.max_body_mb" in exc.error_msg
    # The evidence: the first bytes, decoded.
    assert isinstance(exc.body, bytes) and len(exc.body) == EVIDENCE_BYTES
    assert exc.body.startswith(b'{"items": [{"metadata": {"name": "AAAA')


def test_stacked_encodings_inflate_in_bounded_steps():
    """`Content-Encoding: gzip, gzip`: ~1 KiB that inflates to 128 MiB through two layers. httpx's decoder would
    inflate it in one allocation; here no step may exceed a MiB, so memory stays near the cap."""
    body = bomb(128 * MiB, layers=2)
    assert len(body) < 64 * 1024
    with ScriptedServer(Script([], then=Reply(200, body, {"Content-Encoding": "gzip, gzip"}))) as srv:
        gc.collect()
        tracemalloc.start()
        try:
            with pytest.raises(BodyTooLargeError) as info:
                run(list_pools(srv.url, max_body_bytes=8 * MiB))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert info.value.body.startswith(b'{"items": [{"metadata"')
    assert peak < 48 * MiB, peak / MiB


def test_an_error_answer_too_large_is_not_retried_either():
    big = b'{"error_code": "X", "error_msg": "' + b"x" * (3 * MiB) + b'"}'
    with ScriptedServer(Script([], then=Reply(503, big))) as srv:
        with pytest.raises(BodyTooLargeError) as info:
            run(list_pools(srv.url, max_body_bytes=2 * MiB))
    assert info.value.status == 503 and info.value.attempts == 1 and info.value.error_code == "503"


def test_deflate_raw_and_wrapped_and_unknown_encodings():
    doc = json.dumps({"items": [POOL]}).encode()
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw = raw_deflate.compress(doc) + raw_deflate.flush()
    replies = [Reply(200, zlib.compress(doc), {"Content-Encoding": "deflate"}),
               Reply(200, raw, {"Content-Encoding": "deflate"}),
               Reply(200, gzip.compress(doc), {"Content-Encoding": "GZIP"}),
               Reply(200, doc, {"Content-Encoding": "identity, x-unknown"})]
    with ScriptedServer(replies) as srv:
        async def go():
            async with client(srv.url) as c:
                return [await c.list_pools(PROJECT) for _ in replies]
        for resp in run(go()):
            assert resp.body == doc


def test_a_broken_gzip_body_is_a_decoding_error():
    with ScriptedServer(Script([], then=Reply(200, b"this is not gzip at all", {"Content-Encoding": "gzip"}))) as srv:
        with pytest.raises(ModelArtsError) as info:
            run(list_pools(srv.url, max_attempts=2))
    assert info.value.reason == "decoding_error" and info.value.attempts == 2


def test_a_large_body_is_spilled_to_the_spool_folder(tmp_path):
    doc = json.dumps({"items": [POOL] * 40_000}).encode()
    assert IN_MEMORY_BYTES < len(doc) < 8 * MiB
    with ScriptedServer([Reply(200, gzip.compress(doc), {"Content-Encoding": "gzip"})]) as srv:
        resp = run(list_pools(srv.url, spool_dir=tmp_path / "spool"))
    body = resp.body
    assert isinstance(body, SpilledBody) and body.size == len(doc) and body.path.parent == tmp_path / "spool"
    assert body.read() == doc and body.head == doc[:EVIDENCE_BYTES] and resp.history[0].body is body
    assert len(resp.json()["items"]) == 40_000
    path = body.path
    del resp, body
    gc.collect()
    assert not path.exists()  # a spool file nobody took is removed with its body


def test_a_large_cut_body_waits_in_a_file_during_the_retry(tmp_path):
    cut = json.dumps({"items": [POOL] * 40_000}).encode()[: 2 * MiB]
    small_cut = b'{"items": [' + b'{"a": 1},' * 3000  # above the history's in-memory size, below the spill size
    assert HISTORY_IN_MEMORY_BYTES < len(small_cut) < IN_MEMORY_BYTES
    with ScriptedServer([Reply(200, cut), Reply(200, small_cut), Reply(200, {"items": []})]) as srv:
        resp = run(list_pools(srv.url, spool_dir=tmp_path))
    first, second, last = resp.history
    assert (first.reason, second.reason, last.reason) == ("truncated_json", "truncated_json", "ok")
    assert isinstance(first.body, SpilledBody) and first.body.read() == cut
    assert isinstance(second.body, SpilledBody) and second.body.read() == small_cut
