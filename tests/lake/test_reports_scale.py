"""Reports on a generated fleet, cross-checked against a plain-Python reading of the integration rule.

The lake is written directly (DuckDB range() generators -> one Parquet file per snapshot and table, committed
with pipeline.lake.store.commit, catalog from pipeline.lake.catalog.build_catalog), so a large fleet takes
seconds instead of the hours the real fetch path would need. The fleet has physical pools and Logical
sub-pools, two flavors on some pools, pools created and deleted mid-range, failed project listings (gaps),
and several billing modes.

Run as a script for the timing figures:
    .venv/bin/python tests/lake/test_reports_scale.py --days 90 --pools 2000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections import defaultdict
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pytest

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pipeline.lake.catalog import build_catalog  # noqa: E402
from pipeline.lake.docs import table_docs  # noqa: E402
from pipeline.lake.layout import Layout  # noqa: E402
from pipeline.lake.reports import REPORTS, report_arrow  # noqa: E402
from pipeline.lake.store import commit  # noqa: E402

START = datetime(2026, 8, 1, tzinfo=timezone.utc)
STATES = ("creating", "available", "abnormal", "deleting")


def make_fleet_lake(root: Path, *, days: int, pools: int, projects: int = 40, regions: int = 4,
                    step_minutes: int = 60, fail_per_mille: int = 10, threads: int | None = None) -> dict:
    """Write a lake of `days` x (24h / step) snapshots of `pools` pools. Returns a summary dict.

    Pool i lives in project i % projects (region = project % regions). Pools whose (i // projects) % 10 == 9
    are Logical sub-pools of pool i - projects (same project, physical). 1 in 20 pools is created a while
    into the range, 1 in 20 is deleted before the end. A project's listing fails at a snapshot with
    probability fail_per_mille / 1000 (then none of its pools has a row there)."""
    layout = Layout(root)
    layout.ensure()
    snaps = days * 24 * 60 // step_minutes
    stage = layout.tmp / "fleet-stage"
    stage.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    con.execute(f"""
        CREATE TABLE snaps AS
        SELECT s, TIMESTAMPTZ '{START.isoformat()}' + to_minutes(s * {step_minutes}) AS snapshot_at,
               strftime(TIMESTAMP '{START.replace(tzinfo=None).isoformat()}' + to_minutes(s * {step_minutes}),
                        '%Y%m%dT%H%M%SZ') AS snapshot_id
        FROM range({snaps}) AS r(s);
        CREATE TABLE projs AS
        SELECT j, md5('project' || j) AS project_id, 'region-' || (j % {regions}) AS region
        FROM range({projects}) AS r(j);
        CREATE TABLE pool_defs AS
        SELECT i, i % {projects} AS j, 'pool-' || lpad(i::VARCHAR, 6, '0') || '-' || md5('pool' || i) AS pool_id,
               (i // {projects}) % 10 = 9 AS logical,
               CASE WHEN (i // {projects}) % 10 = 9
                    THEN 'pool-' || lpad((i - {projects})::VARCHAR, 6, '0') || '-' || md5('pool' || (i - {projects})) END
                   AS parent,
               CASE WHEN i % 20 = 7 THEN (hash(i, 'born') % {snaps})::BIGINT ELSE 0 END AS born,
               CASE WHEN i % 20 = 11 THEN ({snaps} // 2 + hash(i, 'dies') % ({snaps} // 2))::BIGINT ELSE {snaps} END AS dies,
               CASE i % 3 WHEN 0 THEN '1' WHEN 1 THEN '0' ELSE NULL END AS billing_code,
               CASE WHEN i % 6 = 0 THEN '2' WHEN i % 6 = 3 THEN '3' END AS period_code,
               'modelarts.vm.flavor-' || (i % 8) AS flavor1,
               CASE WHEN i % 5 = 0 THEN 'modelarts.vm.flavor-' || ((i + 3) % 8) END AS flavor2
        FROM range({pools}) AS r(i);
        CREATE TABLE failed AS
        SELECT s, j FROM snaps, projs WHERE hash(s, j, 'fail') % 1000 < {fail_per_mille};
        CREATE TABLE obs AS
        SELECT s.s, s.snapshot_at, s.snapshot_id, p.region, p.project_id, d.*
        FROM snaps AS s
        JOIN pool_defs AS d ON s.s >= d.born AND s.s < d.dies
        JOIN projs AS p ON p.j = d.j
        WHERE NOT EXISTS (SELECT 1 FROM failed AS f WHERE f.s = s.s AND f.j = d.j);
    """)
    tables = {
        "snapshots": """
            SELECT snapshot_id, snapshot_at, NULL::VARCHAR AS region, NULL::VARCHAR AS project_id,
                   'complete' AS status, snapshot_at AS started_at, snapshot_at AS finished_at,
                   {projects}::INTEGER AS targets FROM snaps""",
        "fetches": """
            SELECT s.snapshot_id, s.snapshot_at, p.region, p.project_id, NULL::VARCHAR AS pool_id,
                   'list_pools' AS call, 'https://modelarts.' || p.region || '.myhuaweicloud.com' AS endpoint,
                   NULL::VARCHAR AS workspace_id,
                   NULL::VARCHAR AS label_selector, NULL::VARCHAR AS status_filter,
                   CASE WHEN f.s IS NULL THEN 'ok' ELSE 'error' END AS outcome,
                   CASE WHEN f.s IS NULL THEN 200 ELSE 500 END::INTEGER AS http_status,
                   CASE WHEN f.s IS NOT NULL THEN 'ModelArts.50005000' END AS error_code,
                   1::INTEGER AS attempts
            FROM snaps AS s CROSS JOIN projs AS p
            LEFT JOIN failed AS f ON f.s = s.s AND f.j = p.j""",
        "pools": """
            SELECT snapshot_id, snapshot_at, region, project_id, pool_id, pool_id AS display_name,
                   '0' AS workspace_id, CASE WHEN logical THEN 'Logical' ELSE 'Dedicate' END AS pool_type,
                   'Running' AS phase, parent, coalesce(parent, pool_id) AS root, parent IS NULL AS is_physical,
                   TIMESTAMPTZ '2026-07-01 00:00:00+00' + to_hours(born) AS created_at,
                   CASE billing_code WHEN '0' THEN 'pay_per_use' WHEN '1' THEN 'yearly_monthly'
                                     ELSE 'unknown' END AS billing_mode,
                   CASE WHEN billing_code = '1' THEN CASE period_code WHEN '2' THEN 'month' WHEN '3' THEN 'year'
                                                     ELSE 'month' END END AS period_type,
                   CASE WHEN billing_code = '1' THEN 1 + i % 3 END::INTEGER AS period_num,
                   CASE WHEN billing_code = '1' THEN i % 2 = 0 END AS auto_renew,
                   CASE WHEN billing_code = '1' THEN 'order-' || i END AS order_id,
                   'list_pools' AS source
            FROM obs""",
        "pool_resources": """
            SELECT snapshot_id, snapshot_at, region, project_id, pool_id, flavor1 AS flavor,
                   (2 + i % 7)::INTEGER AS count, (2 + i % 7)::INTEGER AS max_count FROM obs
            UNION ALL
            SELECT snapshot_id, snapshot_at, region, project_id, pool_id, flavor2 AS flavor,
                   (1 + i % 3)::INTEGER AS count, (1 + i % 3)::INTEGER AS max_count FROM obs
            WHERE flavor2 IS NOT NULL""",
        "pool_capacity": """
            SELECT snapshot_id, snapshot_at, region, project_id, pool_id, state, flavor, count,
                   NULL::INTEGER AS max_count, NULL::VARCHAR AS node_pool
            FROM (
                SELECT *, 'available' AS state, flavor1 AS flavor,
                       (1 + (i + s // 24) % 7)::INTEGER AS count FROM obs
                UNION ALL
                SELECT *, 'abnormal' AS state, flavor1 AS flavor, 1::INTEGER AS count FROM obs
                WHERE hash(i, s, 'abn') % 20 = 0
                UNION ALL
                SELECT *, 'creating' AS state, flavor1 AS flavor, 1::INTEGER AS count FROM obs
                WHERE hash(i, s, 'cre') % 50 = 0
                UNION ALL
                SELECT *, 'available' AS state, flavor2 AS flavor, (1 + i % 3)::INTEGER AS count FROM obs
                WHERE flavor2 IS NOT NULL
            )""",
        "flavors": """
            SELECT s.snapshot_id, s.snapshot_at, r.region, r.project_id, 'modelarts.vm.flavor-' || f AS flavor,
                   'Dedicate' AS flavor_type, 'x86' AS cpu_arch, 8.0 AS cpu_cores, 32.0 AS memory_gib,
                   CASE WHEN f < 4 THEN 'gpu' WHEN f < 6 THEN 'npu' END AS accelerator,
                   CASE WHEN f < 4 THEN 'nvidia-t4' WHEN f < 6 THEN 'ascend-snt9b' END AS accelerator_type,
                   CASE WHEN f < 6 THEN 8 END::INTEGER AS accelerator_cards
            FROM (SELECT * FROM snaps WHERE s % 24 = 0) AS s
            CROSS JOIN (SELECT region, min(project_id) AS project_id FROM projs GROUP BY region) AS r
            CROSS JOIN range(7) AS x(f)""",  # flavor-7 is never in the catalog: unknown
    }
    for table, sql in tables.items():
        con.execute(f"COPY ({sql.format(projects=projects)}) TO '{stage / table}' "
                    f"(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (snapshot_id), WRITE_PARTITION_COLUMNS true, "
                    f"OVERWRITE_OR_IGNORE true)")
    counts = dict(con.execute("SELECT 'pools', count(*) FROM obs UNION ALL SELECT 'snapshots', count(*) FROM snaps"
                              ).fetchall())
    ids = [r[0] for r in con.execute("SELECT snapshot_id FROM snaps ORDER BY s").fetchall()]
    con.close()
    for sid in ids:
        files = {t: next((stage / t / f"snapshot_id={sid}").glob("*.parquet"))
                 for t in tables if (stage / t / f"snapshot_id={sid}").is_dir()}
        at = datetime.strptime(sid, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        commit(layout, snapshot_id=sid, write_id="bench", snapshot_at=at, status="complete",
               raw_dir=layout.raw / f"snapshot_id={sid}", table_files=files, rows={})
    shutil.rmtree(stage, ignore_errors=True)
    build_catalog(layout, table_docs())
    return counts


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
            credit(pool_acc, t, held_end, {key: [1, 0]})
            if nxt_obs > t + cap:
                credit(pool_acc, t + cap, nxt_obs, {key: [0, 1]})
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
                [r["observed_hours"], r["gap_hours"]]
                for r in report if r["level"] == "pool"}
    assert set(got_flavor) == set(flavor_ref)
    for k, v in flavor_ref.items():
        assert got_flavor[k] == pytest.approx(v), k
    assert set(got_pool) == set(pool_ref)
    for k, v in pool_ref.items():
        assert got_pool[k] == pytest.approx(v), k
    assert any(v[1] > 0 for v in pool_ref.values())  # the fleet has gaps
    # rollups: physical pools only
    phys = {(r["day"], r["region"], r["project_id"]): 0.0 for r in report if r["level"] == "project"}
    for r in report:
        if r["level"] == "pool" and r["is_physical"]:
            phys[(r["day"], r["region"], r["project_id"])] += r["available_node_hours"]
    for r in report:
        if r["level"] == "project":
            assert r["available_node_hours"] == pytest.approx(phys[(r["day"], r["region"], r["project_id"])])


# ------------------------------------------------------------------------------------------- timing


def compacted_copy(root: Path, dest: Path) -> Path:
    """The same lake with one Parquet file per table and UTC day (instead of one per snapshot), and a catalog of
    plain views over it: to measure how much of a report's time is the per-file overhead. Returns the catalog."""
    tables = ("snapshots", "fetches", "pools", "pool_resources", "pool_capacity", "flavors")
    dest.mkdir(parents=True, exist_ok=True)
    src = duckdb.connect(str(root / "inventory.duckdb"), read_only=True)
    for t in tables:
        src.execute(f"COPY (SELECT * FROM {t}) TO '{dest / t}' "
                    f"(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (snapshot_day), OVERWRITE_OR_IGNORE true)")
    src.close()
    catalog = dest / "inventory.duckdb"
    cat = duckdb.connect(str(catalog))
    for t in tables:
        cat.execute(f"CREATE OR REPLACE VIEW {t} AS SELECT * FROM read_parquet('{dest / t}/*/*.parquet', "
                    f"hive_partitioning = true, hive_types = {{'snapshot_day': DATE}})")
    cat.close()
    return catalog


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--pools", type=int, default=2000)
    ap.add_argument("--root", type=Path, default=None, help="reuse (or create) the lake here")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--reports", default=",".join(REPORTS))
    ap.add_argument("--compacted", action="store_true",
                    help="also time a copy of the lake with one file per table and day")
    args = ap.parse_args()
    root = args.root or Path(f"/tmp/poolscope-reports-{args.days}d-{args.pools}p")
    if not (root / "inventory.duckdb").exists():
        t0 = time.perf_counter()
        counts = make_fleet_lake(root, days=args.days, pools=args.pools)
        print(f"generated {counts} in {time.perf_counter() - t0:.1f}s at {root}")
    catalogs = [("one file per snapshot", root / "inventory.duckdb")]
    if args.compacted:
        catalogs.append(("one file per day", compacted_copy(root, root.with_name(root.name + "-compacted"))))
    for label, catalog in catalogs:
        print(f"{label}: {catalog}")
        time_reports(catalog, args)


def time_reports(catalog: Path, args) -> None:
    con = duckdb.connect(str(catalog), read_only=True)
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    first = con.execute("SELECT min(snapshot_day), max(snapshot_day) FROM snapshots").fetchall()[0]
    from_day, to_day = first
    for name in args.reports.split(","):
        times = []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            table = report_arrow(con, name, from_day, to_day)
            times.append((time.perf_counter() - t0, time.process_time() - c0))
        best = min(times)
        # cpu / wall well under the thread count means other processes had the cores meanwhile
        print(f"{name}: {table.num_rows} rows, {from_day}..{to_day}, best {best[0]:.2f}s wall "
              f"({best[1]:.2f}s cpu), all {', '.join(f'{w:.2f}/{c:.2f}' for w, c in times)}")


if __name__ == "__main__":
    main()
