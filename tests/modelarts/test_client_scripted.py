"""The client over real loopback HTTP against a scripted server: exact faults, exact headers.

Backoff base is 0 in most tests, so retries cost no waiting; where the policy's own timing matters (the
time budget) the client runs on a fake clock and a fake sleep, so nothing here measures time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from modelarts_testkit import AK, PASSWORD, PROJECT, SECURITY_TOKEN, SK, FakeTime
from scripted_server import Received, Reply, Script, ScriptedServer, error_reply

from pipeline.modelarts import (
    AkSkCredentials,
    AuthenticationError,
    BadRequestError,
    MalformedResponseError,
    ModelArtsClient,
    ModelArtsError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    ServerError,
    ThrottledError,
    TlsError,
    TokenCredentials,
    TransportError,
    signer,
)
from pipeline.modelarts.transport import CONNECTIONS_PER_POOL

CREDS = AkSkCredentials(AK, SK)
POOL = "pool-7e3a1b2c-0000-4a5b-9c8d-1234567890ab"
POOL_LIST = {"apiVersion": "v2", "kind": "PoolList", "items": [{"metadata": {"name": POOL}}]}


def run(coro):
    return asyncio.run(coro)


def client(url: str, creds=CREDS, **kw) -> ModelArtsClient:
    kw.setdefault("backoff_base_s", 0.0)
    kw.setdefault("rate_limit", None)
    kw.setdefault("timeout_s", 5.0)
    return ModelArtsClient(url, creds, **kw)


async def call(url: str, op, creds=CREDS, **kw):
    async with client(url, creds, **kw) as c:
        return await op(c)


def list_pools(c: ModelArtsClient, **kw):
    return c.list_pools(PROJECT, **kw)


def assert_signature_valid(req: Received, sk: str = SK) -> None:
    auth = signer.parse_authorization(req.headers["authorization"])
    assert signer.verify(
        sk=sk, auth=auth, method=req.method, path=req.path, raw_query=req.raw_query,
        headers=dict(req.raw_headers), body=req.body,
    ), "the gateway's recomputation of the signature must match"


# ---------------------------------------------------------------------------------------------- success path


def test_list_pools_sends_signed_sdk_like_headers_and_returns_raw_body():
    # Odd spacing and non-ASCII: the body must come back byte for byte, not re-serialized.
    raw = '{"apiVersion":"v2",  "kind":"PoolList","items":[{"metadata":{"name":"p","labels":{"x":"é"}}}]}\n'.encode()
    with ScriptedServer([Reply(200, raw, {"X-Request-Id": "rid-1"})]) as srv:
        resp = run(call(srv.url, lambda c: c.list_pools(PROJECT, workspace_id="0", label_selector="os.modelarts/name=pool a", status="created")))
    assert resp.body == raw
    assert resp.json()["items"][0]["metadata"]["labels"]["x"] == "é"
    assert (resp.status, resp.request_id, resp.attempts, resp.method) == (200, "rid-1", 1, "GET")
    assert resp.path == f"/v2/{PROJECT}/pools"
    assert resp.query == "labelSelector=os.modelarts%2Fname%3Dpool%20a&status=created&workspaceId=0"
    assert [r.reason for r in resp.history] == ["ok"] and resp.history[0].body == raw
    assert resp.started_at.tzinfo is not None and resp.elapsed_ms >= 0

    (req,) = srv.requests
    # The query goes out exactly as signed: sorted, %20 for the space, never '+'.
    assert req.target == f"/v2/{PROJECT}/pools?labelSelector=os.modelarts%2Fname%3Dpool%20a&status=created&workspaceId=0"
    host = srv.url.removeprefix("http://")
    assert req.headers["host"] == host
    assert req.headers["x-project-id"] == PROJECT
    assert req.headers["content-type"] == "application/json"
    assert req.headers["user-agent"].startswith("poolscope/")
    signer.parse_date(req.headers["x-sdk-date"])
    auth = signer.parse_authorization(req.headers["authorization"])
    assert auth.access == AK
    assert auth.signed_headers == ["content-type", "host", "user-agent", "x-project-id", "x-sdk-date"]
    assert_signature_valid(req)
    assert "x-security-token" not in req.headers


def test_security_token_is_sent_and_signed():
    with ScriptedServer([Reply(200, POOL_LIST)]) as srv:
        run(call(srv.url, list_pools, creds=AkSkCredentials(AK, SK, SECURITY_TOKEN)))
    (req,) = srv.requests
    assert req.headers["x-security-token"] == SECURITY_TOKEN
    assert "x-security-token" in signer.parse_authorization(req.headers["authorization"]).signed_headers
    assert_signature_valid(req)


def test_show_pool_quotes_the_name_and_reads_body_request_id():
    body = {"kind": "Pool", "metadata": {"name": "a b/c"}, "request_id": "from-body"}
    with ScriptedServer([Reply(200, body)]) as srv:
        resp = run(call(srv.url, lambda c: c.show_pool(PROJECT, "a b/c")))
    (req,) = srv.requests
    assert req.target == f"/v2/{PROJECT}/pools/a%20b%2Fc"
    assert_signature_valid(req)
    assert resp.request_id == "from-body"  # no X-Request-Id header: the body's id is the fallback


def test_list_projects_uses_the_iam_endpoint_without_project_header():
    projects = {"projects": [{"id": PROJECT, "name": "cn-north-4"}]}
    with ScriptedServer([Reply(200, projects)]) as iam, ScriptedServer([]) as ma:
        resp = run(call(ma.url, lambda c: c.list_projects(name="cn-north-4"), iam_endpoint=iam.url))
    assert resp.json() == projects and not ma.requests
    (req,) = iam.requests
    assert req.target == "/v3/projects?name=cn-north-4" and "x-project-id" not in req.headers
    assert_signature_valid(req)


def test_endpoint_with_path_prefix_is_signed_with_the_full_path():
    with ScriptedServer([Reply(200, POOL_LIST)]) as srv:
        resp = run(call(srv.url + "/gateway/", list_pools))
    (req,) = srv.requests
    assert req.path == f"/gateway/v2/{PROJECT}/pools" and resp.path == req.path
    assert_signature_valid(req)


def test_resource_flavors_follow_continue_tokens():
    token = "abc+/= x"  # opaque, with characters that need encoding

    def pages(req: Received) -> Reply:
        if "continue" not in req.query:
            return Reply(200, {"kind": "ResourceFlavorList", "metadata": {"continue": token, "remainingItemCount": 1}, "items": [{"n": 1}]})
        assert req.query["continue"] == token
        return Reply(200, {"kind": "ResourceFlavorList", "metadata": {}, "items": [{"n": 2}]})

    with ScriptedServer(pages) as srv:
        responses = run(call(srv.url, lambda c: c.list_resource_flavors(PROJECT, limit=1)))
    assert [r.json()["items"][0]["n"] for r in responses] == [1, 2]
    first, second = srv.requests
    assert first.target == f"/v1/{PROJECT}/resourceflavors?limit=1"
    assert second.target == f"/v1/{PROJECT}/resourceflavors?continue=abc%2B%2F%3D%20x&limit=1"
    assert_signature_valid(second)


def test_repeated_continue_token_stops_paging():
    page = Reply(200, {"metadata": {"continue": "same"}, "items": []})
    with ScriptedServer(Script([], then=page)) as srv:
        with pytest.raises(PaginationError) as info:
            run(call(srv.url, lambda c: c.list_resource_flavors(PROJECT)))
    assert len(srv.requests) == 2 and len(info.value.pages) == 2


def test_failed_page_keeps_the_pages_already_fetched():
    replies = [Reply(200, {"metadata": {"continue": "t1"}, "items": [1]}), error_reply(400, "ModelArts.50004000", "Bad request.")]
    with ScriptedServer(replies) as srv:
        with pytest.raises(BadRequestError) as info:
            run(call(srv.url, lambda c: c.list_resource_flavors(PROJECT)))
    assert [p.json()["items"] for p in info.value.pages] == [[1]]


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "status, code, cls",
    [
        (400, "ModelArts.50004000", BadRequestError),
        (401, "APIGW.0301", AuthenticationError),
        (403, "APIGW.0302", PermissionDeniedError),
        (404, "ModelArts.50015001", NotFoundError),
    ],
)
def test_client_errors_are_typed_and_not_retried(status, code, cls):
    with ScriptedServer(Script([], then=error_reply(status, code, "nope", request_id="0123abcd"))) as srv:
        with pytest.raises(cls) as info:
            run(call(srv.url, lambda c: c.show_pool(PROJECT, POOL)))
    exc = info.value
    assert len(srv.requests) == 1
    assert (exc.status, exc.error_code, exc.error_msg, exc.request_id, exc.attempts) == (status, code, "nope", "0123abcd", 1)
    assert exc.path == f"/v2/{PROJECT}/pools/{POOL}" and exc.reason == f"http_{status}"
    assert exc.response is not None and exc.response.status == status
    assert json.loads(exc.body)["error_code"] == code and len(exc.history) == 1


def test_request_id_header_wins_over_body():
    reply = Reply(404, {"error_code": "APIGW.0101", "error_msg": "no api", "request_id": "body-id"}, {"X-Request-Id": "hdr-id"})
    with ScriptedServer([reply]) as srv:
        with pytest.raises(NotFoundError) as info:
            run(call(srv.url, lambda c: c.list_pools(PROJECT, status="created")))
    assert info.value.request_id == "hdr-id"
    assert (info.value.path, info.value.query) == (f"/v2/{PROJECT}/pools", "status=created")


def test_iam_style_nested_error_body():
    reply = Reply(401, {"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}})
    with ScriptedServer([reply]) as srv:
        with pytest.raises(AuthenticationError) as info:
            run(call(srv.url, lambda c: c.list_projects()))
    assert (info.value.error_code, info.value.error_msg) == ("401", "The request you have made requires authentication.")


def test_5xx_then_success_is_retried():
    replies = [error_reply(503, "APIGW.0613", "IAM unavailable"), error_reply(500, "ModelArts.50005000", "internal error"),
               Reply(502, b"<html>bad gateway</html>", {"Content-Type": "text/html"}), error_reply(504, "APIGW.0201", "Backend timeout."),
               Reply(200, POOL_LIST)]
    seen = []
    with ScriptedServer(replies) as srv:
        resp = run(call(srv.url, list_pools, on_attempt=seen.append))
    assert resp.attempts == 5 and resp.json() == POOL_LIST
    assert [r.reason for r in resp.history] == ["http_503", "http_500", "http_502", "http_504", "ok"]
    assert [r.error_code for r in resp.history] == ["APIGW.0613", "ModelArts.50005000", "502", "APIGW.0201", None]
    assert resp.history[2].body == b"<html>bad gateway</html>"
    assert seen == list(resp.history)  # the hook saw every attempt, in order
    # Each attempt is signed on its own; all of them verify.
    for req in srv.requests:
        assert_signature_valid(req)


def test_501_is_not_retried():
    with ScriptedServer(Script([], then=error_reply(501, "X", "not implemented"))) as srv:
        with pytest.raises(ServerError) as info:
            run(call(srv.url, list_pools))
    assert info.value.attempts == 1 and len(srv.requests) == 1


def test_attempt_cap():
    with ScriptedServer(Script([], then=error_reply(503, "APIGW.0613", "busy", request_id="r9"))) as srv:
        with pytest.raises(ServerError) as info:
            run(call(srv.url, list_pools, max_attempts=4))
    exc = info.value
    assert exc.attempts == 4 and len(exc.history) == 4 and len(srv.requests) == 4
    assert exc.error_code == "APIGW.0613" and exc.request_id == "r9"
    assert [r.delay_s is None for r in exc.history] == [False, False, False, True]


def test_transport_faults_are_retried():
    # reset (RST), close without an answer (FIN), body shorter than its Content-Length, a stall past the timeout.
    replies = [Reply(action="reset"), Reply(action="close"), Reply(200, POOL_LIST, action="short_body"),
               Reply(200, POOL_LIST, delay_s=1.5), Reply(200, POOL_LIST)]
    with ScriptedServer(replies) as srv:
        resp = run(call(srv.url, list_pools, timeout_s=0.4))
    reasons = [r.reason for r in resp.history]
    assert reasons[0] in ("connection_reset", "protocol_error")
    assert reasons[1:] == ["connection_reset", "truncated_body", "timeout", "ok"]
    assert all(r.status is None for r in resp.history[:-1])
    assert resp.attempts == 5 == len(srv.requests)


def test_transport_error_after_cap():
    with ScriptedServer(Script([], then=Reply(action="close"))) as srv:
        with pytest.raises(TransportError) as info:
            run(call(srv.url, list_pools, max_attempts=3))
    exc = info.value
    assert exc.status is None and exc.attempts == 3 and exc.error_code is None and exc.reason == "connection_reset"
    assert exc.response is None and exc.body is None


def test_connection_refused_is_a_transport_error():
    with ScriptedServer([]) as srv:
        url = srv.url
    with pytest.raises(TransportError) as info:
        run(call(url, list_pools, max_attempts=2))
    assert info.value.reason == "connect_error" and info.value.attempts == 2
    host = url.split("//")[1].rstrip("/")
    assert f"cannot connect to {host}: ConnectError" in info.value.error_msg  # which host, and the cause


def test_an_unknown_host_is_named_with_the_cause():
    """Before: `connect_error` alone, the resolver's "Name or service not known" and the host nowhere."""
    with pytest.raises(TransportError) as info:
        run(call("http://poolscope-no-such-host.invalid", list_pools, max_attempts=1))
    message = info.value.error_msg
    assert info.value.reason == "connect_error"
    assert "cannot connect to poolscope-no-such-host.invalid: ConnectError" in message
    assert "[Errno" in message  # the resolver's own words (e.g. "-2] Name or service not known")


def test_truncated_json_is_retried_then_parses():
    replies = [Reply(200, b'{"apiVersion":"v2","kind":"PoolList","ite'), Reply(200, b""), Reply(200, POOL_LIST)]
    with ScriptedServer(replies) as srv:
        resp = run(call(srv.url, list_pools))
    assert [r.reason for r in resp.history] == ["truncated_json", "empty_body", "ok"]
    assert resp.history[0].body == b'{"apiVersion":"v2","kind":"PoolList","ite'


def test_malformed_forever_raises_with_raw_bytes():
    junk = b'{"items": [ \xff'
    with ScriptedServer(Script([], then=Reply(200, junk))) as srv:
        with pytest.raises(MalformedResponseError) as info:
            run(call(srv.url, list_pools, max_attempts=3))
    exc = info.value
    assert exc.status == 200 and exc.attempts == 3 and exc.body == junk
    assert [r.body for r in exc.history] == [junk] * 3
    assert exc.response is not None and exc.response.body == junk


# ---------------------------------------------------------------------------------------------- Retry-After, budget


def test_retry_after_seconds_is_honoured_and_each_attempt_is_re_signed():
    replies = [error_reply(429, "APIGW.0308", "The throttling threshold has been reached", Retry_After="1"), Reply(200, POOL_LIST)]
    with ScriptedServer(replies) as srv:
        resp = run(call(srv.url, list_pools))
    first, second = srv.requests
    assert second.t - first.t >= 1.0
    assert resp.history[0].retry_after_s == 1.0 and resp.history[0].delay_s >= 1.0
    # A second or more later, the new attempt carries a new X-Sdk-Date and its own valid signature.
    assert first.headers["x-sdk-date"] != second.headers["x-sdk-date"]
    assert_signature_valid(second)


def test_retry_after_http_date_is_honoured():
    not_before = (datetime.now(timezone.utc) + timedelta(seconds=2)).replace(microsecond=0)
    replies = [error_reply(503, "APIGW.0613", "busy", Retry_After=format_datetime(not_before, usegmt=True)), Reply(200, POOL_LIST)]
    with ScriptedServer(replies) as srv:
        resp = run(call(srv.url, list_pools))
    assert resp.attempts == 2 and resp.history[0].retry_after_s is not None
    assert srv.requests[1].wall >= not_before.timestamp()


def test_total_time_budget_stops_before_a_sleep_that_would_overrun_it():
    fake = FakeTime()
    throttled = error_reply(429, "APIGW.0308", "throttled", Retry_After="4")
    with ScriptedServer(Script([], then=throttled)) as srv:
        with pytest.raises(ThrottledError) as info:
            run(call(srv.url, list_pools, max_total_s=10.0, max_attempts=50, clock=fake.clock, sleep=fake.sleep))
    exc = info.value
    # t=0 try, sleep >=4, t>=4 try, sleep >=4, t>=8 try; a third sleep would end past 10 s: stop there.
    assert exc.attempts == 3 == len(srv.requests)
    assert len(fake.sleeps) == 2 and all(s >= 4.0 for s in fake.sleeps) and sum(fake.sleeps) < 10.0
    assert exc.retry_after_s == 4.0 and exc.error_code == "APIGW.0308" and exc.history[-1].delay_s is None


def test_full_jitter_delays_follow_the_seeded_rng():
    fake = FakeTime()
    with ScriptedServer(Script([], then=error_reply(500, "E", "e"))) as srv:
        with pytest.raises(ServerError):
            run(call(srv.url, list_pools, max_attempts=6, backoff_base_s=0.5, backoff_cap_s=3.0, max_total_s=1e6,
                     rng=random.Random(42), clock=fake.clock, sleep=fake.sleep))
    reference = random.Random(42)
    expected = [reference.uniform(0, min(3.0, 0.5 * 2**n)) for n in range(5)]
    assert fake.sleeps == pytest.approx(expected)


def test_semaphore_is_not_held_during_backoff():
    # One slot. /slow is told to come back later; /fast must get through while /slow sleeps.
    def script(req: Received) -> Reply:
        if "slow" in req.path and sum("slow" in r.path for r in srv.requests) == 1:
            return error_reply(503, "APIGW.0613", "busy", Retry_After="0.5")
        return Reply(200, POOL_LIST)

    async def both():
        async with client(srv.url, concurrency=1) as c:
            slow = asyncio.create_task(c.show_pool(PROJECT, "slow"))
            while not srv.requests:
                await asyncio.sleep(0.01)
            fast = await c.show_pool(PROJECT, "fast")
            return await slow, fast

    with ScriptedServer(script) as srv:
        slow, fast = run(both())
    assert [r.path.rsplit("/", 1)[1] for r in srv.requests] == ["slow", "fast", "slow"]
    assert slow.attempts == 2 and fast.attempts == 1


def test_concurrency_is_bounded():
    with ScriptedServer(Script([], then=Reply(200, POOL_LIST, delay_s=0.1))) as srv:

        async def many():
            async with client(srv.url, concurrency=3) as c:
                return await asyncio.gather(*(c.show_pool(PROJECT, f"p{i}") for i in range(12)))

        results = run(many())
    assert len(results) == 12 and srv.max_in_flight <= 3 and srv.max_in_flight >= 2


def test_connections_spread_over_pools_stay_bounded_and_are_reused():
    # 20 slots are more than one pool holds (CONNECTIONS_PER_POOL): the client spreads them over several.
    with ScriptedServer(Script([], then=Reply(200, POOL_LIST, delay_s=0.1))) as srv:

        async def many():
            async with client(srv.url, concurrency=20) as c:
                return await asyncio.gather(*(c.show_pool(PROJECT, f"p{i}") for i in range(60)))

        results = run(many())
    assert [r.status for r in results] == [200] * 60 and all(r.attempts == 1 for r in results)
    assert CONNECTIONS_PER_POOL < srv.max_in_flight <= 20
    assert srv.connections <= 20  # 60 calls, so connections were kept alive and reused


def test_hook_failure_does_not_break_the_call(caplog):
    def bad_hook(record):
        raise RuntimeError("metrics backend down")

    with ScriptedServer([Reply(200, POOL_LIST)]) as srv:
        resp = run(call(srv.url, list_pools, on_attempt=bad_hook))
    assert resp.status == 200 and "on_attempt hook failed" in caplog.text


def test_external_http_client_is_not_closed():
    async def go(url):
        async with httpx.AsyncClient() as http:
            async with ModelArtsClient(url, CREDS, http=http, rate_limit=None) as c:
                await c.list_pools(PROJECT)
            assert not http.is_closed

    with ScriptedServer([Reply(200, POOL_LIST)]) as srv:
        run(go(srv.url))


# ---------------------------------------------------------------------------------------------- secrets


def test_secrets_never_leak_into_repr_errors_or_logs(caplog):
    creds = AkSkCredentials(AK, SK, SECURITY_TOKEN)
    # A gateway message that echoes the AK, as APIG's "ak not exist" does.
    replies = [
        error_reply(401, "APIGW.0301", f"Incorrect IAM authentication information: Get secretKey failed,ak:{AK},err:ak not exist"),
        error_reply(503, "APIGW.0613", "busy"), Reply(action="reset"), Reply(200, b"{trunc"),
    ]
    texts: list[str] = []
    caplog.set_level(logging.DEBUG)
    with ScriptedServer(Script(replies, then=Reply(200, b"{trunc"))) as srv:

        async def go():
            async with client(srv.url, creds, max_attempts=3) as c:
                texts.append(repr(c))
                for _ in range(2):
                    try:
                        await c.list_pools(PROJECT)
                    except ModelArtsError as exc:
                        texts.extend([str(exc), repr(exc), repr(exc.history), repr(exc.response)])
                        texts.extend(f"{r}" for r in exc.history)

        run(go())
    assert len(texts) > 5
    blob = "\n".join(texts) + caplog.text
    for secret in (SK, SECURITY_TOKEN, AK):
        assert secret not in blob
    assert "ak:***" in blob  # the echoed AK was scrubbed, not the whole message dropped


# ---------------------------------------------------------------------------------------------- TLS


def test_tls_self_signed_server_refused_by_default_and_trusted_with_its_ca(loopback_ca):
    with ScriptedServer(Script([], then=Reply(200, POOL_LIST)), tls=loopback_ca.server_context()) as srv:
        assert srv.url.startswith("https://127.0.0.1:")
        with pytest.raises(TlsError) as info:
            run(call(srv.url, list_pools, trust_env=False))
        assert info.value.attempts == 1 and info.value.reason == "tls_error"  # deterministic: not retried
        resp = run(call(srv.url, list_pools, verify=str(loopback_ca.ca_file)))
        assert resp.json() == POOL_LIST
        resp = run(call(srv.url, list_pools, verify=loopback_ca.ca_file))  # a Path works too
        assert resp.status == 200
    assert srv.requests[-1].headers["host"] == srv.url.removeprefix("https://")


def test_missing_ca_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        ModelArtsClient("https://127.0.0.1:1", CREDS, verify=str(tmp_path / "nope.pem"))


# ---------------------------------------------------------------------------------------------- IAM tokens


class FakeIam:
    """Token endpoint + ModelArts stand-in: issues tokens with a given life, rejects revoked ones."""

    def __init__(self, life_s: float = 86400.0) -> None:
        self.life_s = life_s
        self.issued: list[tuple[str, dict]] = []
        self.revoked: set[str] = set()

    def __call__(self, req: Received) -> Reply:
        if req.path == "/v3/auth/tokens":
            doc = json.loads(req.body)
            user = doc["auth"]["identity"]["password"]["user"]
            if user["password"] != PASSWORD:
                return Reply(401, {"error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}})
            token = f"MIIT{len(self.issued):04d}-canary-token-value"
            self.issued.append((token, doc["auth"]["scope"]))
            now = datetime.now(timezone.utc)
            body = {"token": {"issued_at": now.isoformat().replace("+00:00", "Z"),
                              "expires_at": (now + timedelta(seconds=self.life_s)).isoformat().replace("+00:00", "Z"),
                              "methods": ["password"]}}
            return Reply(201, body, {"X-Subject-Token": token})
        token = req.headers.get("x-auth-token")
        if token is None or token in self.revoked or token not in {t for t, _ in self.issued}:
            return error_reply(401, "APIGW.0301", "Incorrect IAM authentication information: decrypt token fail")
        return Reply(200, POOL_LIST)


def token_creds(password: str = PASSWORD) -> TokenCredentials:
    return TokenCredentials("alice", password, "dom")


def test_token_is_fetched_once_per_project_and_cached():
    iam = FakeIam()
    with ScriptedServer(iam) as srv:

        async def go():
            async with client(srv.url, token_creds()) as c:
                await asyncio.gather(*(c.list_pools(PROJECT) for _ in range(5)))
                await c.list_pools("other-project")
                await c.list_projects()

        run(go())
    scopes = [scope for _, scope in iam.issued]
    assert scopes == [{"project": {"id": PROJECT}}, {"project": {"id": "other-project"}}, {"domain": {"name": "dom"}}]
    token_req = srv.requests[0]
    assert token_req.method == "POST" and token_req.target == "/v3/auth/tokens?nocatalog=true"
    assert token_req.headers["content-type"] == "application/json;charset=utf8"
    assert "authorization" not in token_req.headers
    api_reqs = [r for r in srv.requests if r.method == "GET"]
    assert all("authorization" not in r.headers and r.headers["x-auth-token"].startswith("MIIT") for r in api_reqs)
    assert {r.headers["x-auth-token"] for r in api_reqs if r.path == f"/v2/{PROJECT}/pools"} == {iam.issued[0][0]}


def test_token_renewed_before_expiry():
    fake = FakeTime()
    iam = FakeIam(life_s=3600.0)
    with ScriptedServer(iam) as srv:

        async def go():
            async with client(srv.url, token_creds(), clock=fake.clock, sleep=fake.sleep) as c:
                await c.list_pools(PROJECT)
                fake.now += 3000  # 10 min (= min(600 s, 10% of 3600 s = 360 s) -> 360 s) not yet reached
                await c.list_pools(PROJECT)
                fake.now += 300  # now within the last 360 s of the token's life
                await c.list_pools(PROJECT)

        run(go())
    assert len(iam.issued) == 2
    gets = [r.headers["x-auth-token"] for r in srv.requests if r.method == "GET"]
    assert gets == [iam.issued[0][0], iam.issued[0][0], iam.issued[1][0]]


def test_revoked_token_is_replaced_once_on_401():
    iam = FakeIam()
    with ScriptedServer(iam) as srv:

        async def go():
            async with client(srv.url, token_creds()) as c:
                first = await c.list_pools(PROJECT)
                iam.revoked.add(iam.issued[0][0])
                second = await c.list_pools(PROJECT)
                # Revoke everything from now on: one refresh, then the 401 stands (no loop).
                iam.revoked.update(f"MIIT{i:04d}-canary-token-value" for i in range(100))
                with pytest.raises(AuthenticationError) as info:
                    await c.list_pools(PROJECT)
                return first, second, info.value

        first, second, exc = run(go())
    assert first.attempts == 1 and second.attempts == 2
    assert [r.reason for r in second.history] == ["http_401", "ok"]
    assert exc.attempts == 2 and exc.error_code == "APIGW.0301"
    assert len(iam.issued) == 3


def test_wrong_password_is_an_authentication_error_without_secrets(caplog):
    caplog.set_level(logging.DEBUG)
    iam = FakeIam()
    with ScriptedServer(iam) as srv:
        with pytest.raises(AuthenticationError) as info:
            run(call(srv.url, list_pools, creds=token_creds("PWcanary-wrong-password-1")))
    exc = info.value
    assert exc.path == "/v3/auth/tokens" and exc.attempts == 1 and exc.error_msg == "The username or password is wrong."
    for text in (str(exc), repr(exc), caplog.text, repr(token_creds())):
        assert "PWcanary" not in text


def test_concurrent_calls_share_one_failed_login():
    # IAM locks a user out after repeated wrong passwords: a burst of calls must not multiply the attempts.
    iam = FakeIam()
    with ScriptedServer(iam) as srv:

        async def go():
            async with client(srv.url, token_creds("PWcanary-wrong-password-2")) as c:
                return await asyncio.gather(*(c.list_pools(PROJECT) for _ in range(6)), return_exceptions=True)

        results = run(go())
    assert all(isinstance(r, AuthenticationError) for r in results)
    assert len(srv.requests) == 1 and srv.requests[0].path == "/v3/auth/tokens"


def test_token_value_is_masked_in_responses():
    iam = FakeIam()
    seen = []
    with ScriptedServer(iam) as srv:
        run(call(srv.url, list_pools, creds=token_creds(), on_attempt=seen.append))
    assert "canary-token-value" not in repr(seen)


def test_429s_do_not_count_towards_max_attempts():
    # Throttling is the gateway's answer about the pace, not about the call: with max_attempts=2, three 429s
    # and one 503 still leave room for the fifth attempt, which succeeds.
    fake = FakeTime()
    throttled = error_reply(429, "APIGW.0308", "The throttling threshold has been reached")
    replies = [throttled, throttled, error_reply(503, "APIGW.0613", "busy"), throttled, Reply(200, POOL_LIST)]
    with ScriptedServer(replies) as srv:
        resp = run(call(srv.url, list_pools, max_attempts=2, max_total_s=1e6, clock=fake.clock, sleep=fake.sleep))
    assert resp.attempts == 5 and [r.status for r in resp.history] == [429, 429, 503, 429, 200]


def test_the_attempt_budget_still_counts_every_other_failure():
    fake = FakeTime()
    throttled = error_reply(429, "APIGW.0308", "The throttling threshold has been reached")
    busy = error_reply(503, "APIGW.0613", "busy")
    with ScriptedServer([busy, throttled, busy, Reply(200, POOL_LIST)]) as srv:
        with pytest.raises(ServerError) as info:
            run(call(srv.url, list_pools, max_attempts=2, max_total_s=1e6, clock=fake.clock, sleep=fake.sleep))
    assert info.value.attempts == 3 and len(srv.requests) == 3  # two 503s and the 429 between them
