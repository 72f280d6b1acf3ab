"""What README ("Point it at your Huawei Cloud account") says about proxies and a corporate CA, checked: the
client reads HTTP(S)_PROXY / NO_PROXY and SSL_CERT_FILE from the environment (httpx's trust_env), and
`fetch.ca_bundle` replaces the default trust rather than adding to it."""

import asyncio
from pathlib import Path

import certifi
import pytest
from modelarts_testkit import AK, PROJECT, SK
from scripted_server import Reply, Script, ScriptedServer

from pipeline.modelarts import AkSkCredentials, ModelArtsClient, TlsError
from pipeline.modelarts import transport

CREDS = AkSkCredentials(AK, SK)
POOL_LIST = {"apiVersion": "v2", "kind": "PoolList", "items": []}
# Never resolved: a request for it reaches only a proxy (".invalid" is reserved, RFC 2606).
UNREACHABLE = "http://modelarts.cn-north-4.example.invalid"


def list_pools(url: str, **kw):
    async def go():
        async with ModelArtsClient(url, CREDS, backoff_base_s=0.0, rate_limit=None, timeout_s=5.0,
                                   max_attempts=1, **kw) as c:
            return await c.list_pools(PROJECT)
    return asyncio.run(go())


@pytest.fixture
def fresh_trust():
    # The default trust store is built once per process (on first use); these tests change what it is built from.
    transport._default_ssl_context.cache_clear()
    yield
    transport._default_ssl_context.cache_clear()


def test_http_proxy_from_the_environment_carries_the_calls(monkeypatch):
    with ScriptedServer(Script([], then=Reply(200, POOL_LIST))) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        resp = list_pools(UNREACHABLE)
    assert resp.status == 200
    (req,) = proxy.requests
    # A forward proxy is asked for the absolute URL; the Host (signed) is the API's, not the proxy's.
    assert req.target == f"{UNREACHABLE}/v2/{PROJECT}/pools"
    assert req.headers["host"] == "modelarts.cn-north-4.example.invalid"


def test_no_proxy_sends_a_host_direct(monkeypatch):
    with ScriptedServer(Script([], then=Reply(200, POOL_LIST))) as api, \
            ScriptedServer(Script([], then=Reply(502, {"error": "proxy"}))) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert list_pools(api.url).status == 200
    assert proxy.requests == [] and len(api.requests) == 1


def test_ssl_cert_file_is_the_default_trust(loopback_ca, monkeypatch, fresh_trust):
    with ScriptedServer(Script([], then=Reply(200, POOL_LIST)), tls=loopback_ca.server_context()) as srv:
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        with pytest.raises(TlsError):
            list_pools(srv.url)
        transport._default_ssl_context.cache_clear()
        monkeypatch.setenv("SSL_CERT_FILE", str(loopback_ca.ca_file))
        assert list_pools(srv.url).status == 200


def test_ca_bundle_replaces_the_default_trust(loopback_ca, monkeypatch, fresh_trust, tmp_path):
    """fetch.ca_bundle is the whole trust: a server the default store trusts is refused unless its CA is in the
    file too (README: put the corporate CA and the public CAs in one PEM file when only some hosts go through the
    intercepting proxy)."""
    with ScriptedServer(Script([], then=Reply(200, POOL_LIST)), tls=loopback_ca.server_context()) as srv:
        monkeypatch.setenv("SSL_CERT_FILE", str(loopback_ca.ca_file))  # the default store trusts the server...
        assert list_pools(srv.url).status == 200
        with pytest.raises(TlsError):  # ...the bundle given instead does not
            list_pools(srv.url, verify=certifi.where())
        both = tmp_path / "both.pem"
        both.write_bytes(Path(certifi.where()).read_bytes() + loopback_ca.ca_file.read_bytes())
        assert list_pools(srv.url, verify=str(both)).status == 200
