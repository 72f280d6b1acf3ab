"""`fetch.rate_limit: auto`: the AIMD controller against the simulator's per-AK throttle, over loopback HTTP.

Nothing is timed: the checks are on what the controller reports (the limit it measured, the rate it settled
on, its cuts), on the outcome of every call, and on the simulator's log of 429s.
"""

from __future__ import annotations

import asyncio

from modelarts_testkit import AK, SK

from pipeline.modelarts import AkSkCredentials, ModelArtsClient
from pipeline.modelarts.adaptive import MARGIN, AdaptiveRate, Ticket
from pipeline.simulator import Faults, SimulatorConfig, run_simulator

CREDS = AkSkCredentials(AK, SK)


def sim_config(limit: float) -> SimulatorConfig:
    return SimulatorConfig(ak=AK, sk=SK, projects=3, pools_per_project=2, seed=7,
                           faults=Faults(rate_limit=limit, latency_ms=5))


async def calls(sim, pacer: AdaptiveRate, n: int) -> list:
    # max_attempts=1: any failure but a 429 would end its call, so every call ending ok shows that 429s are
    # retried outside the attempt budget.
    pids = [p.id for p in sim.projects]
    async with ModelArtsClient(sim.url, CREDS, rate=pacer, max_attempts=1, backoff_base_s=0.05,
                               backoff_cap_s=0.5, timeout_s=5.0) as c:
        return await asyncio.gather(*(c.list_pools(pids[i % len(pids)]) for i in range(n)))


def throttled(sim) -> int:
    return sum(r.status == 429 for r in sim.requests)


def test_starting_above_the_limit_it_measures_it_and_settles_under_it():
    # The gateway admits 40 req/s per AK (a second's burst); the controller starts at 120, three times that.
    # Once the burst is spent a third of its attempts get through: it measures ~40 and paces at 95% of that.
    limit = 40.0
    with run_simulator(sim_config(limit)) as sim:
        pacer = AdaptiveRate(120.0, max_concurrency=32)
        responses = asyncio.run(calls(sim, pacer, 160))
        answered_429 = throttled(sim)
    assert len(responses) == 160 and all(r.status == 200 for r in responses)
    assert pacer.cuts >= 1 and pacer.throttled == answered_429 > 0
    assert 0.75 * limit <= pacer.limit_estimate <= 1.3 * limit
    assert 0.7 * limit <= pacer.settled_rps <= limit
    assert pacer.rate <= 1.25 * limit  # the additive probe above the limit, until the next 429
    # 429s cost about one window and the attempts in flight when the limit was found, not a share of the run.
    assert answered_429 < 0.25 * 160


def test_a_rate_under_the_limit_grows_and_meets_no_429():
    # 60 calls against a 200 req/s gateway from 20 req/s: slow start raises the pace, the gateway's burst
    # (a second's worth) is never spent, so nothing is throttled.
    with run_simulator(sim_config(200.0)) as sim:
        pacer = AdaptiveRate(20.0, max_concurrency=32)
        pacer.slow_start_until = 200.0  # as with nothing stored
        responses = asyncio.run(calls(sim, pacer, 60))
        answered_429 = throttled(sim)
    assert all(r.status == 200 for r in responses) and answered_429 == 0 == pacer.cuts
    assert pacer.rate > 20.0 and pacer.limit_estimate is None
    # No 429 measured the limit: the next snapshot starts from the average the gateway admitted, not above it
    # (the pace may have grown past the limit on the gateway's burst allowance), nor below where this one did.
    assert 20.0 <= pacer.settled_rps <= pacer.rate


def test_a_limit_that_drops_mid_run_is_followed():
    # 120 req/s, then 30: the calls after the drop meet 429s, and the controller measures the new limit.
    with run_simulator(sim_config(120.0)) as sim:
        pacer = AdaptiveRate(100.0, max_concurrency=32)
        cuts_before = []

        async def drop():  # one event loop: the pacer's lock and waiters belong to it
            before = await calls(sim, pacer, 60)
            cuts_before.append(pacer.cuts)
            sim.set_rate_limit(30.0)
            return before, await calls(sim, pacer, 120)

        before, after = asyncio.run(drop())
    assert cuts_before == [0]
    assert all(r.status == 200 for r in [*before, *after])
    assert pacer.cuts >= 1 and 0.75 * 30 <= pacer.limit_estimate <= 1.4 * 30
    assert pacer.settled_rps <= MARGIN * pacer.limit_estimate and pacer.rate <= 1.25 * 30


def test_concurrency_follows_rate_and_latency():
    pacer = AdaptiveRate(100.0, max_concurrency=64)
    assert pacer.concurrency == 64  # no latency measured yet: the pace alone holds the load
    pacer.latency_s = 0.05
    assert pacer.concurrency == 10  # 100 req/s x 50 ms x 2 (Little's law with headroom)
    pacer.rate = 1000.0
    assert pacer.concurrency == 64  # the configured cap
    pacer.rate = 10.0
    assert pacer.concurrency == 4  # never below a handful


def test_429s_met_below_the_pace_lower_it_gently_and_measure_nothing():
    # The last calls of a run (or retries) meet 429s while far fewer attempts go out than the pace allows: the
    # share throttled of so few says nothing about the limit, so the pace drops by 10 %, no estimate is made.
    # (Before: the estimate was taken from that trickle and the stored rate collapsed to 1 req/s.)
    now = [0.0]
    pacer = AdaptiveRate(100.0, limit_known=True, clock=lambda: now[0])
    window = Ticket(0, 100.0)
    now[0] = 1.0  # a second with no attempt sent through the pace
    for i in range(16):
        pacer.done(window, 429 if i % 2 else 200, 0.05)
    assert pacer.cuts == 1 and pacer.rate == 90.0 and pacer.limit_estimate is None
    assert pacer.settled_rps == 90.0


def test_a_429_at_the_end_of_a_window_waits_for_a_sample_before_measuring():
    # The bucket runs dry as a full window closes: its last answer is its first 429. One answer since the first
    # 429, all throttled, would read as a limit of ~0 (and the next snapshot would start from the floor): the
    # window stays open until 8 answers since its first 429 measure the share admitted.
    now = [0.0]
    pacer = AdaptiveRate(100.0, clock=lambda: now[0])
    pacer._window_sent = 20  # sent through the pace, as acquire() counts them
    now[0] = 0.2
    window = Ticket(0, 100.0)
    for i in range(20):
        pacer.done(window, 429 if i == 19 else 200, 0.05)
    assert pacer.cuts == 0 and pacer.rate == 100.0 and pacer.limit_estimate is None
    pacer._window_sent += 8
    for i in range(8):  # 429, 200, 429, 200, ...: 4 of the 8 answers after the first 429 admitted
        pacer.done(window, 429 if i % 2 == 0 else 200, 0.05)
        assert pacer.cuts == (1 if i == 7 else 0)
    # Sent at the pace (28 in 0.2 s is more), half admitted; the first 429 is not in the sample (a sample that
    # always starts with a 429 reads the share low).
    assert pacer.limit_estimate == 100.0 * 4 / 8
    assert pacer.rate == 0.95 * 50.0


def test_with_no_429_the_settled_rate_is_what_the_gateway_admitted_on_average():
    # The pace grew to 300 req/s on the gateway's burst allowance, but 100 answers came back over 2 s: the next
    # snapshot starts from 50 req/s, not from 300 (a rate that no 429 measured and that was never sustained).
    now = [0.0]
    pacer = AdaptiveRate(20.0, clock=lambda: now[0])
    ticket = asyncio.run(pacer.acquire())  # the first attempt goes at 0 s
    now[0] = 2.0
    for _ in range(100):
        pacer.done(ticket, 200, 0.05)
    pacer.rate = 300.0
    assert pacer.limit_estimate is None and pacer.settled_rps == 50.0
    # A run shorter than a second says nothing of the average: the rate stands.
    now[0] = 0.0
    short = AdaptiveRate(20.0, clock=lambda: now[0])
    ticket = asyncio.run(short.acquire())
    now[0] = 0.5
    short.done(ticket, 200, 0.05)
    short.rate = 300.0
    assert short.settled_rps == 300.0
