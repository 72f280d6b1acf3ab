"""The HTTP surface: auth in the gateway's order, exact error bodies, filters, paging, IAM, control."""

import http.client
import json
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

import pytest
import yaml
from simkit import call, pools_path

from pipeline.modelarts import signer
from pipeline.simulator import SimulatorConfig, run_simulator

RID = re.compile(r"^[0-9a-f]{32}$")
AUTH = "Incorrect IAM authentication information: "


def assert_gateway_error(resp, status: int, code: str, msg: str) -> None:
    assert resp.status == status
    rid = resp.headers["x-request-id"]
    assert resp.json() == {"error_code": code, "error_msg": msg, "request_id": rid}


def test_signed_request_is_accepted_with_standard_headers(sim):
    pid = sim.projects[0].id
    resp = call(sim, "GET", pools_path(pid))
    assert resp.status == 200
    assert resp.headers["content-type"] == "application/json"
    assert int(resp.headers["content-length"]) == len(resp.body)
    assert RID.match(resp.headers["x-request-id"])
    datetime.strptime(resp.headers["date"], "%a, %d %b %Y %H:%M:%S GMT")
    body = resp.json()
    assert body["apiVersion"] == "v2" and body["kind"] == "PoolList"
    assert body["items"] == sim.fleet.pools(pid)
    record = sim.requests[-1]
    assert (record.status, record.ak, record.project_id, record.request_id) == (
        200, sim.ak, pid, resp.headers["x-request-id"])


def test_verification_uses_the_received_query(sim):
    pid = sim.projects[0].id
    signed = "labelSelector=os.modelarts%2Fworkspace.id%3D0&workspaceId=0"
    reordered = "workspaceId=0&labelSelector=os.modelarts/workspace.id%3D0"
    assert call(sim, "GET", pools_path(pid), signed, sent_query=reordered).status == 200
    tampered = call(sim, "GET", pools_path(pid), "workspaceId=0", sent_query="workspaceId=1")
    assert_gateway_error(tampered, 401, "APIGW.0301", AUTH + "verify aksk signature fail")


def test_wrong_sk(sim):
    resp = call(sim, "GET", pools_path(sim.projects[0].id), sk="not-the-secret")
    assert_gateway_error(resp, 401, "APIGW.0301", AUTH + "verify aksk signature fail")


def test_unknown_ak(sim):
    resp = call(sim, "GET", pools_path(sim.projects[0].id), ak="UNKNOWNAK00000000000")
    assert_gateway_error(resp, 401, "APIGW.0301",
                         AUTH + "Get secretKey failed,ak:UNKNOWNAK00000000000,err:ak not exist")


def test_stale_date(sim):
    signed_at = datetime.now(timezone.utc) - timedelta(minutes=20)
    resp = call(sim, "GET", pools_path(sim.projects[0].id), now=signed_at)
    assert resp.status == 401
    body = resp.json()
    assert body["error_code"] == "APIGW.0301" and body["request_id"] == resp.headers["x-request-id"]
    prefix = AUTH + f"signature expired, signature time:{signer.format_date(signed_at)},server time:"
    assert body["error_msg"].startswith(prefix)
    assert re.fullmatch(r"\d{8}T\d{6}Z", body["error_msg"][len(prefix):])


def test_date_must_be_signed(sim):
    url = urlparse(sim.url)
    path = pools_path(sim.projects[0].id)
    date = signer.format_date(datetime.now(timezone.utc))
    headers = {"Host": url.netloc, "X-Sdk-Date": date}
    canonical = signer.canonical_request("GET", path, "", headers, ["host"], b"")
    sig = signer.signature(sim.sk, signer.string_to_sign(canonical, date))
    headers["Authorization"] = f"SDK-HMAC-SHA256 Access={sim.ak}, SignedHeaders=host, Signature={sig}"
    resp = call(sim, "GET", path, sign=False, headers=headers)
    assert resp.status == 401 and "signature expired" in resp.json()["error_msg"]


def test_missing_and_unparseable_authorization(sim):
    path = pools_path(sim.projects[0].id)
    assert_gateway_error(call(sim, "GET", path, sign=False), 401, "APIGW.0301", AUTH + "x-auth-token not found")
    resp = call(sim, "GET", path, sign=False, headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert_gateway_error(resp, 401, "APIGW.0301", AUTH + "unsupported authorization header format")


def test_not_found_bodies(sim):
    pid = sim.projects[0].id
    resp = call(sim, "GET", f"{pools_path(pid)}/pool-00000000-0000-0000-0000-000000000000")
    assert resp.status == 404 and resp.json() == {"error_code": "ModelArts.50015001", "error_msg": "pool not found"}
    resp = call(sim, "GET", f"{pools_path(pid)}/pool-00000000-0000-0000-0000-000000000000/nodes")
    assert resp.json()["error_code"] == "ModelArts.50015001"
    resp = call(sim, "GET", f"/v2/{pid}/no-such-api")
    assert_gateway_error(resp, 404, "APIGW.0101",
                         "The API does not exist or has not been published in the environment.")
    resp = call(sim, "DELETE", pools_path(pid))
    assert_gateway_error(resp, 404, "APIGW.0101", "The API does not exist.")
    # Routing comes before auth, as in the gateway: an unknown API is a 404 even unsigned.
    assert call(sim, "GET", "/nothing", sign=False).status == 404


def test_show_pool_returns_the_document(sim):
    pid = sim.projects[1].id
    doc = sim.fleet.pools(pid)[2]
    resp = call(sim, "GET", f"{pools_path(pid)}/{doc['metadata']['name']}")
    assert resp.status == 200 and resp.json() == doc


def test_unknown_project_is_forbidden(sim):
    resp = call(sim, "GET", pools_path("0" * 32))
    assert_gateway_error(resp, 403, "APIGW.0302", "The IAM user is not authorized to access the API.")


def test_list_filters(sim):
    pid = sim.projects[0].id
    sim.advance(hours=5)  # more phases and workspaces to filter on
    docs = sim.fleet.pools(pid)

    def names(query: str) -> list[str]:
        resp = call(sim, "GET", pools_path(pid), query)
        assert resp.status == 200, resp.body
        return [d["metadata"]["name"] for d in resp.json()["items"]]

    def expect(pred) -> list[str]:
        return [d["metadata"]["name"] for d in docs if pred(d)]

    label = lambda d, k: d["metadata"]["labels"].get(k)  # noqa: E731
    assert names("") == expect(lambda d: True)
    assert names("workspaceId=0") == expect(lambda d: label(d, "os.modelarts/workspace.id") == "0")
    created = {"Running", "Abnormal", "Error", "ScalingFailed"}
    assert names("status=created") == expect(lambda d: d["status"]["phase"] in created)
    assert names("status=creating") == expect(lambda d: d["status"]["phase"] in ("Creating", "Waiting"))
    assert names("status=failed") == expect(lambda d: d["status"]["phase"] == "CreationFailed")
    one = docs[0]["metadata"]["labels"]["os.modelarts/name"]
    q = signer.canonical_query([("labelSelector", f"os.modelarts/name={one}")])
    assert names(q) == expect(lambda d: label(d, "os.modelarts/name") == one)
    q = signer.canonical_query([("labelSelector", f"os.modelarts/name!={one},os.modelarts/node.prefix")])
    assert names(q) == expect(lambda d: label(d, "os.modelarts/name") != one and label(d, "os.modelarts/node.prefix"))
    q = signer.canonical_query([("labelSelector", "!os.modelarts/node.prefix")])
    assert names(q) == expect(lambda d: d["spec"]["type"] == "Logical")
    for bad in ("status=running", "labelSelector=" + signer._encode("a in (b)")):
        resp = call(sim, "GET", pools_path(pid), bad)
        assert resp.status == 400 and resp.json() == {"error_code": "ModelArts.50004000", "error_msg": "Bad request."}


def _walk(sim, path: str, limit: int) -> list[list[dict]]:
    pages, token = [], None
    while True:
        params = [("limit", limit)] + ([("continue", token)] if token else [])
        resp = call(sim, "GET", path, signer.canonical_query(params))
        assert resp.status == 200, resp.body
        body = resp.json()
        pages.append(body["items"])
        token = body["metadata"].get("continue")
        if not token:
            assert body["metadata"] == {}
            return pages
        assert body["metadata"]["remainingItemCount"] > 0


def test_resource_flavors_paging(sim):
    pid = sim.projects[0].id
    path = f"/v1/{pid}/resourceflavors"
    everything = call(sim, "GET", path).json()
    assert everything["kind"] == "ResourceFlavorList" and everything["metadata"] == {}
    pages = _walk(sim, path, 3)
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    assert [f for p in pages for f in p] == everything["items"]
    assert call(sim, "GET", path, "limit=0").json()["items"] == everything["items"]
    for bad in ("limit=abc", "limit=501", "limit=-1", "continue=garbage"):
        resp = call(sim, "GET", path, bad)
        assert resp.status == 400 and resp.json()["error_code"] == "ModelArts.50004000", bad
    # A token from another listing is no good either.
    token = call(sim, "GET", path, "limit=1").json()["metadata"]["continue"]
    other = f"/v1/{sim.projects[1].id}/resourceflavors"
    assert call(sim, "GET", other, signer.canonical_query([("continue", token)])).status == 400


def test_nodes_paging(sim):
    pid = sim.projects[0].id
    doc = max(sim.fleet.pools(pid), key=lambda d: len(sim.fleet.nodes(pid, d["metadata"]["name"])))
    path = f"{pools_path(pid)}/{doc['metadata']['name']}/nodes"
    nodes = sim.fleet.nodes(pid, doc["metadata"]["name"])
    assert len(nodes) >= 3
    pages = _walk(sim, path, 2)
    assert [n for p in pages for n in p] == nodes
    assert all(n["kind"] == "Node" and n["status"]["phase"] for n in nodes)


def test_every_response_has_a_request_id(sim):
    pid = sim.projects[0].id
    responses = [
        call(sim, "GET", pools_path(pid)),
        call(sim, "GET", pools_path(pid), sign=False),
        call(sim, "GET", "/nope", sign=False),
        call(sim, "GET", "/v3/projects"),
        call(sim, "POST", "/v3/auth/tokens", sign=False, body=b"{}"),
        call(sim, "GET", "/_simulator/state", sign=False),
    ]
    ids = [r.headers["x-request-id"] for r in responses]
    assert all(RID.match(i) for i in ids) and len(set(ids)) == len(ids)


def test_iam_projects(sim):
    resp = call(sim, "GET", "/v3/projects")
    assert resp.status == 200
    body = resp.json()
    assert [p["id"] for p in body["projects"]] == [p.id for p in sim.projects]
    first = body["projects"][0]
    assert first["name"] == "cn-north-4" and first["enabled"] is True and first["is_domain"] is False
    assert first["domain_id"] == sim.fleet.domain_id and first["links"]["self"].endswith(first["id"])
    assert body["links"]["next"] is None and body["links"]["previous"] is None
    one = call(sim, "GET", "/v3/projects", "name=cn-east-3").json()["projects"]
    assert [p["id"] for p in one] == [sim.projects[1].id]
    assert call(sim, "GET", "/v3/projects", sign=False).status == 401


def _token_request(user="alice", password="pw", domain="acme", scope=None) -> bytes:
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "password": password, "domain": {"name": domain}}}},
        "scope": {"project": scope or {"name": "cn-north-4"}}}}
    return json.dumps(body).encode()


@pytest.fixture
def iam_sim():
    cfg = SimulatorConfig(projects=2, pools_per_project=3, seed=1, users={("alice", "pw", "acme")})
    with run_simulator(cfg) as s:
        yield s


def test_password_token_flow(iam_sim):
    sim = iam_sim
    first, second = sim.projects
    resp = call(sim, "POST", "/v3/auth/tokens", sign=False, body=_token_request(),
                headers={"Content-Type": "application/json;charset=utf8"})
    assert resp.status == 201
    token = resp.headers["x-subject-token"]
    body = resp.json()["token"]
    assert body["methods"] == ["password"] and body["project"]["id"] == first.id
    assert body["project"]["domain"] == {"id": sim.fleet.domain_id, "name": "acme"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", body["expires_at"])
    assert "catalog" in body
    ok = call(sim, "GET", pools_path(first.id), sign=False, headers={"X-Auth-Token": token})
    assert ok.status == 200 and len(ok.json()["items"]) == 3
    other = call(sim, "GET", pools_path(second.id), sign=False, headers={"X-Auth-Token": token})
    assert other.status == 403 and other.json() == {
        "error_code": "ModelArts.0210", "error_msg": "The project id in the request URL does not match the token."}
    by_id = call(sim, "POST", "/v3/auth/tokens", "nocatalog=true", sign=False,
                 body=_token_request(scope={"id": second.id}))
    assert by_id.status == 201 and "catalog" not in by_id.json()["token"]
    assert by_id.json()["token"]["project"]["name"] == second.name
    bogus = call(sim, "GET", pools_path(first.id), sign=False, headers={"X-Auth-Token": "MIIbogus"})
    assert_gateway_error(bogus, 401, "APIGW.0301", AUTH + "decrypt token fail")


def test_wrong_password(iam_sim):
    resp = call(iam_sim, "POST", "/v3/auth/tokens", sign=False, body=_token_request(password="nope"))
    assert resp.status == 401
    assert resp.json() == {"error": {"code": 401, "message": "The username or password is wrong.",
                                     "title": "Unauthorized"}}
    assert "x-subject-token" not in resp.headers


def test_expired_token():
    cfg = SimulatorConfig(projects=1, pools_per_project=1, users={("bob", "pw", "d")}, token_ttl_s=0)
    with run_simulator(cfg) as sim:
        resp = call(sim, "POST", "/v3/auth/tokens", sign=False, body=_token_request("bob", "pw", "d"))
        token = resp.headers["x-subject-token"]
        expires = resp.json()["token"]["expires_at"]
        denied = call(sim, "GET", pools_path(sim.projects[0].id), sign=False, headers={"X-Auth-Token": token})
        assert_gateway_error(denied, 401, "APIGW.0301", AUTH + f"token expires, expires_at:{expires}")


def test_temporary_credentials_need_their_security_token():
    cfg = SimulatorConfig(projects=1, pools_per_project=1, ak="TEMPAK00000000000000", sk="tempsk",
                          security_token="STS-TOKEN")
    with run_simulator(cfg) as sim:
        path = pools_path(sim.projects[0].id)
        assert call(sim, "GET", path).status == 401
        assert call(sim, "GET", path, headers={"X-Security-Token": "STS-TOKEN"}).status == 200
        assert call(sim, "GET", path, headers={"X-Security-Token": "other"}).status == 401


def test_keep_alive_connection_serves_many_requests(sim):
    url = urlparse(sim.url)
    path = pools_path(sim.projects[0].id)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        for _ in range(20):
            conn.request("GET", path, headers=signer.sign(ak=sim.ak, sk=sim.sk, method="GET", host=url.netloc,
                                                          path=path))
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200 and not resp.will_close
    finally:
        conn.close()
    assert len({r.request_id for r in sim.requests}) == 20


def test_control_endpoint_and_config(sim, tmp_path):
    resp = call(sim, "POST", "/_simulator/advance", "hours=2", sign=False)
    assert resp.status == 200 and resp.json()["tick"] == 2 and sim.fleet.tick == 2
    state = call(sim, "GET", "/_simulator/state", sign=False).json()
    assert [p["id"] for p in state["projects"]] == [p.id for p in sim.projects]
    assert call(sim, "POST", "/_simulator/inject", "kind=bogus", sign=False).status == 400
    assert call(sim, "POST", "/_simulator/inject", "kind=not_found&count=1", sign=False).status == 200
    assert call(sim, "GET", pools_path(sim.projects[0].id)).status == 404
    assert not [r for r in sim.requests if r.path.startswith("/_simulator")]

    path = sim.write_config(tmp_path / "poolscope.yaml", storage_root="./lake")
    config = yaml.safe_load(path.read_text())
    assert config["storage"] == {"root": "./lake"} and config["credentials"] == {"method": "aksk"}
    assert config["targets"] == [{"region": p.region, "project_id": p.id, "endpoint": sim.url}
                                 for p in sim.projects]
    assert sim.sk not in path.read_text()


def test_stopping_drops_kept_alive_connections():
    with run_simulator(SimulatorConfig(projects=1, pools_per_project=1)) as sim:
        url = urlparse(sim.url)
        path = pools_path(sim.projects[0].id)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        conn.request("GET", path, headers=signer.sign(ak=sim.ak, sk=sim.sk, method="GET", host=url.netloc,
                                                      path=path))
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
    try:
        conn.request("GET", path, headers=signer.sign(ak=sim.ak, sk=sim.sk, method="GET", host=url.netloc,
                                                      path=path))
        with pytest.raises((ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine)):
            conn.getresponse()
    except OSError:
        pass  # refused while sending: equally gone
    finally:
        conn.close()


def test_concurrent_clients_while_the_clock_moves(sim):
    from concurrent.futures import ThreadPoolExecutor

    paths = [pools_path(p.id) for p in sim.projects]

    def client(i: int) -> list[int]:
        return [call(sim, "GET", paths[(i + k) % len(paths)]).status for k in range(15)]

    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(client, i) for i in range(6)]
        for _ in range(10):
            sim.advance(hours=1)
        statuses = [s for f in futures for s in f.result()]
    assert statuses == [200] * 90
    assert sim.fleet.tick == 10
