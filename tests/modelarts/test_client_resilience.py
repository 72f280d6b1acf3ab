"""Issue acceptance: our client against the simulator with 20% 5xx, throttling and stalls.

Listing 100 projects returns every pool; attempts stay within the cap; Retry-After is honoured (measured from
the simulator's own request log); a forbidden project (403) is asked exactly once.
"""

import asyncio
from collections import defaultdict

from pipeline.modelarts import AkSkCredentials, ModelArtsClient, PermissionDeniedError
from pipeline.modelarts.pools import pool_items
from pipeline.simulator import Faults, SimulatorConfig, run_simulator

AK, SK = "AKRESILIENCE00000001", "resilience-test-sk-0123456789abcdefghij"
MAX_ATTEMPTS = 10
RETRY_AFTER_S = 0.4


def test_listing_100_projects_through_5xx_throttling_and_stalls():
    faults = Faults(error_rate=0.2, stall_rate=0.03, stall_s=1.0, rate_limit=150, retry_after_s=RETRY_AFTER_S,
                    forbidden_projects=2, seed=11)
    config = SimulatorConfig(projects=100, pools_per_project=3, seed=5, faults=faults, ak=AK, sk=SK)
    with run_simulator(config) as sim:
        # Forced throttling on top of the random faults, so that Retry-After is exercised every run.
        sim.inject("throttle", count=15, retry_after_s=RETRY_AFTER_S)
        expected = {p.id: sorted(x["metadata"]["name"] for x in sim.fleet.pools(p.id))
                    for p in sim.projects if not p.forbidden}
        forbidden = {p.id for p in sim.projects if p.forbidden}
        assert len(expected) == 98 and len(forbidden) == 2

        async def run():
            async with ModelArtsClient(sim.url, AkSkCredentials(AK, SK), concurrency=16, rate_limit=400,
                                       timeout_s=0.5, max_attempts=MAX_ATTEMPTS, max_total_s=60,
                                       backoff_base_s=0.05, backoff_cap_s=0.5) as client:
                return await asyncio.gather(*(client.list_pools(p.id) for p in sim.projects),
                                            return_exceptions=True)

        results = asyncio.run(run())
        log = list(sim.requests)

    got, attempts = {}, []
    for project, result in zip(sim.projects, results):
        if project.id in forbidden:
            assert isinstance(result, PermissionDeniedError), result
            assert result.status == 403 and result.error_code == "APIGW.0302" and result.attempts == 1
            continue
        assert not isinstance(result, BaseException), f"{project.id}: {result!r}"
        got[project.id] = sorted(p["metadata"]["name"] for p in pool_items(result.json()))
        attempts.append(result.attempts)
        assert 1 <= result.attempts <= MAX_ATTEMPTS
        assert len(result.history) == result.attempts
    assert got == expected  # every pool of every reachable project

    by_path = defaultdict(list)
    for r in log:
        by_path[r.path].append(r)
    for pid in forbidden:
        assert len(by_path[f"/v2/{pid}/pools"]) == 1  # 403 is never retried

    # The faults really happened, and were retried.
    statuses = [r.status for r in log]
    assert statuses.count(429) >= 15
    assert sum(1 for s in statuses if s in (500, 502, 503)) >= 20
    assert any(r.fault == "stall" for r in log)
    assert sum(attempts) > len(attempts)

    # Retry-After honoured: the next request for the same path never comes sooner than it said.
    gaps = []
    for reqs in by_path.values():
        reqs.sort(key=lambda r: r.t)
        for before, after in zip(reqs, reqs[1:]):
            if before.status == 429 and before.retry_after:
                gaps.append(after.t - before.t)
                assert after.t - before.t >= before.retry_after - 0.01, (before, after)
    assert len(gaps) >= 10
