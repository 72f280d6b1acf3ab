"""Reports on a generated fleet, cross-checked against a plain-Python reading of the integration rule.

The lake is written directly (DuckDB range() generators -> one Parquet file per snapshot and table, committed
with pipeline.lake.store.commit, catalog from pipeline.catalog.views.build_catalog), so a large fleet takes
seconds instead of the hours the real fetch path would need. The fleet has physical pools and Logical
sub-pools, two flavors on some pools, pools created and deleted mid-range, failed project listings (gaps),
and several billing modes.

The timing of the same reports over 90 days lives in benchmarks/bench_query.py (`make bench`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import duckdb
import pytest

from benchmarks.fleet_lake import make_fleet_lake
from pipeline.reports.tables import report_arrow

STATES = ("creating", "available", "abnormal", "deleting")


# ------------------------------------------------------------------------------------------- reference


def reference_capacity(con: duckdb.DuckDBPyConnection, from_day: date, to_day: date, period_hours: float):
    """Pool x flavor x day node-hours and pool x day observed/gap hours, straight from the rule, in Python.

    Only for fleets without workspace filters or show_pool targets (the generated one)."""
    cap = 2 * 3600 * period_hours
    snaps = [r[0] for r in con.execute("SELECT epoch(snapshot_at) FROM snapshots ORDER BY 1").fetchall()]
    horizon = snaps[-1] + 3600 * period_hours
    snap_days = {int(t // 86400) for t in snaps}
    d_from = (from_day - date(1970, 1, 1)).days
    d_to = (to_day - date(1970, 1, 1)).days
    end = (d_to + 1) * 86400.0
    ok_listings = defaultdict(list)  # (region, project) -> sorted times of ok listings
    for region, project, t in con.execute(
            "SELECT region, project_id, epoch(snapshot_at) FROM fetches WHERE call = 'list_pools' "
            "GROUP BY ALL HAVING bool_and(outcome = 'ok') ORDER BY 3").fetchall():
        ok_listings[(region, project)].append(t)
    present = defaultdict(list)  # pool key -> [(t, physical)]
    for region, project, pool, t, physical in con.execute(
            "SELECT region, project_id, pool_id, epoch(snapshot_at), is_physical FROM pools ORDER BY 4").fetchall():
        present[(region, project, pool)].append((t, physical))
    nodes = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0, 0]))  # (pool, t) -> flavor -> [req, states...]
    for region, project, pool, t, flavor, n in con.execute(
            "SELECT region, project_id, pool_id, epoch(snapshot_at), flavor, count FROM pool_resources").fetchall():
        nodes[(region, project, pool, t)][flavor][0] += n
    for region, project, pool, t, state, flavor, n in con.execute(
            "SELECT region, project_id, pool_id, epoch(snapshot_at), state, flavor, count "
            "FROM pool_capacity").fetchall():
        nodes[(region, project, pool, t)][flavor][1 + STATES.index(state)] += n

    def credit(acc, start, stop, weights):
        d = int(start // 86400)
        while d * 86400 < stop:
            lo, hi = max(start, d * 86400), min(stop, (d + 1) * 86400)
            if hi > lo and d_from <= d <= d_to and d in snap_days:
                for key, w in weights.items():
                    acc[(d, key)] = [a + w_i * (hi - lo) / 3600 for a, w_i in zip(acc.get((d, key), [0] * len(w)), w)]
            d += 1

    flavor_acc: dict = {}
    pool_acc: dict = {}
    for key, rows in present.items():
        times = [t for t, _ in rows]
        listings = ok_listings[key[:2]]
        for n, (t, _physical) in enumerate(rows):
            nxt = [times[n + 1]] if n + 1 < len(times) else []
            nxt += [x for x in listings if x > t][:1]
            nxt_obs = min(nxt + [horizon, end])
            held_end = min(nxt_obs, t + cap)
            counts = nodes[(*key, t)]
            credit(flavor_acc, t, held_end, {(*key, f): v for f, v in counts.items()})
            fresh_end = min(held_end, t + cap / 2)  # one period: seen; the rest of the held time is carried
            credit(pool_acc, t, fresh_end, {key: [1, 0, 0]})
            if held_end > fresh_end:
                credit(pool_acc, fresh_end, held_end, {key: [0, 1, 0]})
            if nxt_obs > t + cap:
                credit(pool_acc, t + cap, nxt_obs, {key: [0, 0, 1]})
    return flavor_acc, pool_acc


def test_generated_fleet_matches_reference(tmp_path):
    make_fleet_lake(tmp_path, days=3, pools=120, projects=6, regions=2, fail_per_mille=120)
    con = duckdb.connect(str(tmp_path / "inventory.duckdb"), read_only=True)
    from_day, to_day = date(2026, 8, 1), date(2026, 8, 3)
    flavor_ref, pool_ref = reference_capacity(con, from_day, to_day, 1.0)
    report = report_arrow(con, "capacity_utilization", from_day, to_day).to_pylist()
    got_flavor = {((r["day"] - date(1970, 1, 1)).days, (r["region"], r["project_id"], r["pool_id"], r["flavor"])):
                  [r["requested_node_hours"], r["creating_node_hours"], r["available_node_hours"],
                   r["abnormal_node_hours"], r["deleting_node_hours"]]
                  for r in report if r["level"] == "flavor"}
    got_pool = {((r["day"] - date(1970, 1, 1)).days, (r["region"], r["project_id"], r["pool_id"])):
                [r["observed_hours"], r["carried_hours"], r["gap_hours"]]
                for r in report if r["level"] == "pool"}
    assert set(got_flavor) == set(flavor_ref)
    for k, v in flavor_ref.items():
        assert got_flavor[k] == pytest.approx(v), k
    assert set(got_pool) == set(pool_ref)
    for k, v in pool_ref.items():
        assert got_pool[k] == pytest.approx(v), k
    assert any(v[1] > 0 for v in pool_ref.values())  # the fleet has carried hours
    assert any(v[2] > 0 for v in pool_ref.values())  # and gaps
    # rollups: physical pools only
    phys = {(r["day"], r["region"], r["project_id"]): 0.0 for r in report if r["level"] == "project"}
    for r in report:
        if r["level"] == "pool" and r["is_physical"]:
            phys[(r["day"], r["region"], r["project_id"])] += r["available_node_hours"]
    for r in report:
        if r["level"] == "project":
            assert r["available_node_hours"] == pytest.approx(phys[(r["day"], r["region"], r["project_id"])])
