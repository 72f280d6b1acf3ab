"""Every fault flag and every scripted fault kind, observable on the wire and in the request log."""

import http.client
import json
import socket
from urllib.parse import urlparse

import pytest
from simkit import call, pools_path

from pipeline.modelarts import signer
from pipeline.simulator import Faults, SimulatorConfig, run_simulator
from pipeline.simulator.faults import FaultEngine

THROTTLED = "The throttling threshold has been reached: policy user over ratelimit,limit:{},time:1 second"


def faulty(**faults) -> SimulatorConfig:
    return SimulatorConfig(projects=2, pools_per_project=3, seed=5, faults=Faults(**faults))


def assert_throttled(resp, limit: int, retry_after: str | None) -> None:
    assert resp.status == 429
    assert resp.json() == {"error_code": "APIGW.0308", "error_msg": THROTTLED.format(limit),
                           "request_id": resp.headers["x-request-id"]}
    assert resp.headers.get("retry-after") == retry_after


def raw_get(sim, path: str, timeout: float):
    """A signed GET on a fresh connection; returns (status, declared length, body) or raises."""
    url = urlparse(sim.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.request("GET", path, headers=signer.sign(ak=sim.ak, sk=sim.sk, method="GET", host=url.netloc,
                                                      path=path))
        resp = conn.getresponse()
        return resp.status, int(resp.getheader("Content-Length")), resp.read()
    finally:
        conn.close()


def test_rate_limit_per_credential_with_retry_after():
    with run_simulator(faulty(rate_limit=2, retry_after_s=1)) as sim:
        path = pools_path(sim.projects[0].id)
        statuses = [call(sim, "GET", path).status for _ in range(8)]
        assert statuses[:2] == [200, 200] and 429 in statuses
        throttled = next(r for r in sim.requests if r.status == 429)
        assert throttled.fault == "throttle" and throttled.retry_after == 1.0
        assert throttled.error_code == "APIGW.0308"
        # The limiter counts authenticated callers: a bad signature is a 401, not a throttle.
        assert call(sim, "GET", path, sk="wrong").status == 401


def test_rate_limit_body_without_retry_after():
    with run_simulator(faulty(rate_limit=1)) as sim:
        path = pools_path(sim.projects[0].id)
        responses = [call(sim, "GET", path) for _ in range(4)]
        assert_throttled(next(r for r in responses if r.status == 429), 1, None)


def test_throttle_burst_windows():
    with run_simulator(faulty(throttle_burst=(4, 2))) as sim:
        path = pools_path(sim.projects[0].id)
        statuses = [call(sim, "GET", path).status for _ in range(8)]
        assert statuses == [429, 429, 200, 200, 429, 429, 200, 200]


def test_error_rate_answers_5xx_with_realistic_bodies():
    with run_simulator(faulty(error_rate=1.0)) as sim:
        path = pools_path(sim.projects[0].id)
        seen = {}
        for _ in range(30):
            resp = call(sim, "GET", path)
            seen[resp.status] = resp.json()
        assert set(seen) == {500, 502, 503}
        assert seen[500] == {"error_code": "ModelArts.50005000", "error_msg": "internal error"}
        assert seen[502]["error_code"] == seen[503]["error_code"] == "APIGW.0201"
        assert seen[502]["error_msg"] == "Backend unavailable." and "request_id" in seen[503]
        assert {r.fault for r in sim.requests} == {"error"}


def test_fault_decisions_are_reproducible():
    def run() -> list[int]:
        with run_simulator(faulty(error_rate=0.4, truncate_rate=0.2)) as sim:
            path = pools_path(sim.projects[0].id)
            return [call(sim, "GET", path).status for _ in range(25)]

    first = run()
    assert first == run()
    assert 200 in first and any(s >= 500 for s in first)


def test_truncated_body_has_a_consistent_length():
    with run_simulator(faulty(truncate_rate=1.0)) as sim:
        status, length, body = raw_get(sim, pools_path(sim.projects[0].id), timeout=10)
        assert status == 200 and length == len(body) > 0
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)
        assert sim.requests[-1].fault == "truncate"


def test_reset_drops_the_connection():
    with run_simulator(faulty(reset_rate=1.0)) as sim:
        with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
            raw_get(sim, pools_path(sim.projects[0].id), timeout=10)
        record = sim.requests[-1]
        assert record.fault == "reset" and record.status == 0


def test_stall_outlasts_the_client_timeout():
    with run_simulator(faulty(stall_rate=1.0, stall_s=30)) as sim:
        with pytest.raises(socket.timeout):
            raw_get(sim, pools_path(sim.projects[0].id), timeout=0.3)
        assert sim.requests[-1].fault == "stall"
    # Leaving the context woke the stalled handler: nothing is left waiting 30 s.


def test_forbidden_projects():
    with run_simulator(faulty(forbidden_projects=1)) as sim:
        ok, denied = sim.projects
        assert not ok.forbidden and denied.forbidden
        assert call(sim, "GET", pools_path(ok.id)).status == 200
        resp = call(sim, "GET", pools_path(denied.id))
        assert resp.status == 403 and resp.json()["error_code"] == "APIGW.0302"
        assert denied.id in {p["id"] for p in call(sim, "GET", "/v3/projects").json()["projects"]}


def test_latency_and_jitter_decisions():
    engine = FaultEngine(Faults(latency_ms=100, jitter_ms=20), seed=1)
    delays = [engine.decide("/p", None, "ak:x").delay_s for _ in range(50)]
    assert all(0.08 <= d <= 0.12 for d in delays) and len(set(delays)) > 1


def test_bad_fault_settings_are_refused(sim):
    with pytest.raises(ValueError):
        Faults(error_rate=1.5)
    with pytest.raises(ValueError):
        Faults(throttle_burst=(2, 3))
    with pytest.raises(ValueError):
        sim.inject("meteor")
    with pytest.raises(ValueError):
        sim.inject("error", status=418)


def test_inject_throttle_then_recover(sim):
    path = pools_path(sim.projects[0].id)
    sim.inject("throttle", count=2, retry_after_s=1)
    assert_throttled(call(sim, "GET", path), 200, "1")
    assert_throttled(call(sim, "GET", path), 200, "1")
    assert call(sim, "GET", path).status == 200
    assert [r.fault for r in sim.requests] == ["throttle", "throttle", None]


def test_inject_error_statuses(sim):
    path = pools_path(sim.projects[0].id)
    for status in (500, 502, 503, 504):
        sim.inject("error", status=status)
        assert call(sim, "GET", path).status == status
    sim.inject("error")
    assert call(sim, "GET", path).json()["error_code"] == "ModelArts.50005000"


def test_inject_filters_by_project_and_path(sim):
    first, second = sim.projects[0].id, sim.projects[1].id
    sim.inject("forbidden", project_id=second)
    sim.inject("not_found", path_contains="/resourceflavors")
    assert call(sim, "GET", pools_path(first)).status == 200
    assert call(sim, "GET", f"/v1/{first}/resourceflavors").json() == {
        "error_code": "ModelArts.50015001", "error_msg": "pool not found"}
    resp = call(sim, "GET", pools_path(second))
    assert resp.status == 403 and resp.json()["error_code"] == "APIGW.0302"
    assert call(sim, "GET", pools_path(second)).status == 200


def test_inject_transport_faults(sim):
    path = pools_path(sim.projects[0].id)
    sim.inject("truncate")
    status, length, body = raw_get(sim, path, timeout=10)
    assert status == 200 and length == len(body)
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    sim.inject("reset")
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        raw_get(sim, path, timeout=10)
    sim.inject("stall")
    with pytest.raises(socket.timeout):
        raw_get(sim, path, timeout=0.3)
    assert raw_get(sim, path, timeout=10)[0] == 200
    assert [r.fault for r in sim.requests] == ["truncate", "reset", "stall", None]
