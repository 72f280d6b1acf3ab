"""The simulator's ListEvents: each pool's history, as its own pool documents show it changing hour by hour."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from simkit import call

from pipeline.modelarts import signer
from pipeline.simulator import SimulatorConfig, run_simulator
from pipeline.simulator.events import EventLog
from pipeline.simulator.fleet import Fleet
from pipeline.simulator.pools import Allocation, PoolState

STATES = ("available", "abnormal", "creating", "deleting")
TROUBLE = {"Abnormal", "Error", "CreationFailed", "ScalingFailed"}
HOURS = 30


def events_path(pid: str) -> str:
    return f"/v1/{pid}/events"


def listing(sim, pid: str, pool: str, **params) -> tuple[int, dict]:
    query = signer.canonical_query([(k, str(v)) for k, v in {"resource": "pools", "name": pool, **params}.items()])
    resp = call(sim, "GET", events_path(pid), query)
    return resp.status, resp.json()


def state_of(doc: dict) -> tuple[str, tuple[int, ...]]:
    """Phase and node counts per state, read from the pool document the API serves (either resources shape)."""
    resources = doc["status"].get("resources", {})
    counts = []
    for state in STATES:
        entries = resources.get(state, [])
        entries = [entries] if isinstance(entries, dict) else entries
        counts.append(sum(e["count"] for e in entries))
    return doc["status"]["phase"], tuple(counts)


def epoch(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())


@pytest.fixture(scope="module")
def evolved():
    """A fleet advanced hour by hour, with what each pool's document said after every hour."""
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=8, seed=11)) as sim:
        seen = {p.id: {d["metadata"]["name"]: [(sim.fleet.now, state_of(d))] for d in sim.fleet.pools(p.id)}
                for p in sim.projects}
        for _ in range(HOURS):
            sim.advance(1)
            for p in sim.projects:
                for d in sim.fleet.pools(p.id):
                    seen[p.id].setdefault(d["metadata"]["name"], []).append((sim.fleet.now, state_of(d)))
        yield sim, seen


def expected_events(history: list, created: bool) -> list[tuple[str, str, str, int, int]]:
    """(type, reason, message without its timestamp, earliest, latest epoch) of each hour's differences."""
    out = []
    if created:  # a pool born during the simulation starts from nothing
        history = [(history[0][0] - timedelta(hours=1), (None, (0, 0, 0, 0))), *history]
    for (_, (p0, c0)), (t1, (p1, c1)) in zip(history, history[1:]):
        lo, hi = int(t1.timestamp()) - 3599, int(t1.timestamp())
        if p0 is not None and p1 != p0:
            out.append(("Warning" if p1 in TROUBLE else "Normal", "PoolStatusChange", f"from {p0} to {p1}", lo, hi))
        if c1 != c0:
            text = "available/abnormal/creating/deleting count from {} to {}".format(
                "/".join(map(str, c0)), "/".join(map(str, c1)))
            out.append(("Warning" if c1[1] > c0[1] else "Normal", "PoolResourcesStatusChange", text, lo, hi))
    return out


def test_events_retell_each_pools_history(evolved):
    sim, seen = evolved
    total = kinds = 0
    reasons, types = set(), set()
    for p in sim.projects:
        initial = {d for d, h in seen[p.id].items() if h[0][0] == sim.fleet.start}
        for pool, history in seen[p.id].items():
            status, body = listing(sim, p.id, pool)
            assert status == 200 and body["apiVersion"] == "v1" and body["kind"] == "EventList"
            assert body["metadata"] == {}  # one page: no continue
            want = expected_events(history, pool not in initial)
            got = []
            for item in body["items"]:
                assert set(item) == {"apiVersion", "kind", "type", "reason", "message", "count", "firstTimestamp",
                                     "lastTimestamp"} and item["kind"] == "Event"
                message = item["message"]
                if item["reason"] == "PoolResourcesStatusChange":
                    m = re.fullmatch(r"(.* count from [0-9/]+ to [0-9/]+), timestamp: ([0-9]+)", message)
                    assert m and int(m[2]) == epoch(item["firstTimestamp"])
                    message = m[1]
                got.append((item["type"], item["reason"], message, epoch(item["firstTimestamp"]),
                            epoch(item["lastTimestamp"]), item["count"]))
            # Repeats of a status change are one item counted up (Kubernetes' aggregation): fold the expectation.
            # (Resource messages carry their own timestamp: those never repeat.)
            folded: list[list] = []
            for kind, reason, message, lo, hi in want:
                same = next((f for f in folded if f[:3] == [kind, reason, message]), None)
                if same is not None and reason == "PoolStatusChange":
                    same[4], same[5] = (lo, hi), same[5] + 1
                else:
                    folded.append([kind, reason, message, (lo, hi), (lo, hi), 1])
            assert sorted((k, r, m, c) for k, r, m, _, _, c in got) == sorted(
                (k, r, m, c) for k, r, m, _, _, c in folded)
            for kind, reason, message, first, last, count in got:
                assert any(f[:3] == [kind, reason, message] and f[5] == count and f[3][0] <= first <= f[3][1]
                           and f[4][0] <= last <= f[4][1] for f in folded)  # within the hours that made it
            assert [g[4] for g in got] == sorted(g[4] for g in got)  # newest last
            total += len(got)
            reasons |= {g[1] for g in got}
            types |= {g[0] for g in got}
            kinds += any(g[1] == "PoolStatusChange" for g in got)
    assert total > 40 and reasons == {"PoolStatusChange", "PoolResourcesStatusChange"} and types == {"Normal", "Warning"}
    assert kinds >= 2


def _busiest(sim, seen):
    p = sim.projects[0]
    pool = max(seen[p.id], key=lambda n: (len(listing(sim, p.id, n)[1]["items"]), n))
    return p.id, pool, listing(sim, p.id, pool)[1]["items"]


def test_since_until_and_type_filter(evolved):
    sim, seen = evolved
    pid, pool, items = _busiest(sim, seen)
    assert len(items) >= 4
    cut = epoch(items[2]["lastTimestamp"])
    status, body = listing(sim, pid, pool, since=cut)
    assert status == 200 and body["items"] == [i for i in items if epoch(i["lastTimestamp"]) >= cut]
    assert items[2] in body["items"] and len(body["items"]) < len(items)  # that very second's events again
    status, body = listing(sim, pid, pool, until=cut - 1)
    assert body["items"] == [i for i in items if epoch(i["firstTimestamp"]) <= cut - 1]
    status, body = listing(sim, pid, pool, since=cut, until=cut)
    assert body["items"] == [i for i in items if epoch(i["firstTimestamp"]) <= cut <= epoch(i["lastTimestamp"])]
    for kind in ("Normal", "Warning"):
        assert listing(sim, pid, pool, type=kind)[1]["items"] == [i for i in items if i["type"] == kind]
    future = int(sim.fleet.now.timestamp()) + 1
    assert listing(sim, pid, pool, since=future) == (200, {"apiVersion": "v1", "kind": "EventList", "metadata": {},
                                                          "items": []})


def test_continue_paging(evolved):
    sim, seen = evolved
    pid, pool, items = _busiest(sim, seen)
    got, token, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"continue": token} if token else {})}
        status, body = listing(sim, pid, pool, **params)
        assert status == 200 and len(body["items"]) <= 2
        pages += 1
        got += body["items"]
        token = body["metadata"].get("continue")
        if not token:
            assert body["metadata"] == {}
            break
        assert body["metadata"]["remainingItemCount"] == len(items) - len(got)
    assert got == items and pages == -(-len(items) // 2)
    # limit 0 is the default (500); a token of another listing is refused
    assert listing(sim, pid, pool, limit=0)[1]["items"] == items
    _, first = listing(sim, pid, pool, limit=1)
    other = next(n for n in seen[pid] if n != pool)
    status, body = listing(sim, pid, other, limit=1, **{"continue": first["metadata"]["continue"]})
    assert (status, body) == (400, {"error_code": "ModelArts.50004000", "error_msg": "Bad request."})


@pytest.mark.parametrize("params", [
    {"limit": 501}, {"limit": "abc"}, {"limit": -1}, {"since": "yesterday"}, {"until": "1.5"},
    {"type": "Critical"}, {"resource": "nodes"}, {"name": ""},
])
def test_bad_queries_are_the_services_400(evolved, params):
    sim, seen = evolved
    pid = sim.projects[0].id
    status, body = listing(sim, pid, next(iter(seen[pid])), **params)
    assert (status, body) == (400, {"error_code": "ModelArts.50004000", "error_msg": "Bad request."})


def test_limit_500_is_allowed_and_an_unknown_pool_has_no_events(evolved):
    sim, seen = evolved
    pid = sim.projects[0].id
    assert listing(sim, pid, next(iter(seen[pid])), limit=500)[0] == 200
    assert listing(sim, pid, "pool-00000000-0000-0000-0000-000000000000")[1]["items"] == []


def test_the_same_time_gives_the_same_events_however_it_was_split():
    a, b = Fleet(4, 2, 6), Fleet(4, 2, 6)
    a.advance(10)
    for hours in (3.5, 0.5, 6):
        b.advance(hours)
    for p in a.projects:
        names = {d["metadata"]["name"] for d in a.pools(p.id)} | set(a._worlds[p.id].events.events)
        for name in names:
            assert a.events(p.id, name) == b.events(p.id, name)
    assert any(a.events(p.id, n) for p in a.projects for n in a._worlds[p.id].events.events)


def test_a_repeat_counts_up_on_the_event_on_record():
    """A pool flapping Running -> Abnormal -> Running -> Abnormal: one item per distinct message, the repeat
    counted, its lastTimestamp moved (and so listed again for a since after its first time)."""
    pool = PoolState(name="pool-x", project=None, domain_name="d", created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                     display_name="x", resource_id="r", workspace_id="0", type="Dedicate", scopes=("Train",),
                     allocations=[Allocation("f", {"az1": 2}, 2, {"available": {"az1": 2}, "abnormal": {},
                                                                   "creating": {}, "deleting": {}})])
    log = EventLog(seed=1)
    log.baseline([pool])
    t0 = datetime(2026, 11, 1, 1, tzinfo=timezone.utc)
    a = pool.allocations[0]
    for tick, (phase, available, abnormal) in enumerate(
            [("Abnormal", 1, 1), ("Running", 2, 0), ("Abnormal", 1, 1), ("Abnormal", 1, 1)], start=1):
        pool.phase = phase
        a.nodes["available"], a.nodes["abnormal"] = {"az1": available}, ({"az1": abnormal} if abnormal else {})
        log.observe([pool], t0 + timedelta(hours=tick), tick)
    items = log.list("pool-x")
    status = [(i["type"], i["message"], i["count"]) for i in items if i["reason"] == "PoolStatusChange"]
    assert sorted(status) == [("Normal", "from Abnormal to Running", 1), ("Warning", "from Running to Abnormal", 2)]
    flap = next(i for i in items if i["message"] == "from Running to Abnormal")
    assert flap["firstTimestamp"] < flap["lastTimestamp"]
    assert epoch(flap["firstTimestamp"]) > int((t0 + timedelta(hours=0)).timestamp())
    assert epoch(flap["lastTimestamp"]) > int((t0 + timedelta(hours=2)).timestamp())
    resources = [i["message"].split(", timestamp")[0] for i in items if i["reason"] == "PoolResourcesStatusChange"]
    assert len(resources) == 3  # each count change has its own timestamp: no two alike
    since = epoch(flap["firstTimestamp"]) + 1
    assert flap in log.list("pool-x", since=since)
    back = next(i for i in items if i["message"] == "from Abnormal to Running")
    assert items.index(flap) > items.index(back)  # newest last: it moved past the later event when it repeated


def test_the_service_may_page_below_the_limit():
    with run_simulator(SimulatorConfig(projects=1, pools_per_project=6, seed=11, events_page_size=2)) as sim:
        sim.advance(30)
        pid = sim.projects[0].id
        pool = max(sorted(d["metadata"]["name"] for d in sim.fleet.pools(pid)),
                   key=lambda n: len(sim.fleet.events(pid, n)))
        served = sim.fleet.events(pid, pool)
        status, body = listing(sim, pid, pool, limit=500)
        assert len(served) > 2 and status == 200 and body["items"] == served[:2]
        assert body["metadata"]["remainingItemCount"] == len(served) - 2
