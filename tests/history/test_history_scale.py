"""build_history at fleet scale: a generated history (SQL fan-out of one simulator snapshot), timed, and
cross-checked against the change rules it was generated with.

One real snapshot of a simulated fleet goes through the real pipeline (lakekit.publish_snapshot); then every
pool table is fanned out in SQL to `hours` hourly snapshots, with known perturbations:
  - phase: 'Abnormal' for the days where hash(pool, day) % churn = 0
  - capacity: +1 node in the 6-hour blocks where hash(pool, flavor, block) % churn = 0
  - one label 'bench/epoch' = the 2-day block number, on pools where hash(pool) % 20 = 0
  - absence: pools with hash(pool, week) % 40 = 0 are missing from hour 24 to the end of that week (a deletion,
    then a re-creation at the next week)
  - failures: a project's listing fails (HTTP 403) in the hours where hash(project, hour) % 100 = 0; its pools are
    missing from that snapshot, and must not be deleted
The views go into a catalog of their own (like inventory.duckdb: hive-partitioned Parquet, one folder per table).

Run as a script for the timing figures (90 days x hourly x ~2,000 pools by default):
    .venv/bin/python tests/history/test_history_scale.py --days 90 --projects 20 --pools 100 --churn 50
The pytest below runs a small version (8 days, 200 pools) and checks the counts against the generator's rules.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import timezone
from pathlib import Path

import duckdb

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lakekit  # noqa: E402
from pipeline.history.full import CONTENT_COLUMNS, build_history  # noqa: E402
from pipeline.simulator import Fleet  # noqa: E402

START = lakekit.utc(2026, 11, 1, 0)
POOL_TABLES = ("pools", "pool_labels", "pool_annotations", "pool_scopes", "pool_resources", "pool_resource_azs",
               "pool_capacity", "pool_capacity_azs", "pool_job_flavors")


def _base(root: Path, projects: int, pools: int, seed: int) -> Path:
    fleet = Fleet(seed, projects, pools, start=START)
    listings = {(p.region, p.id): fleet.pools(p.id) for p in fleet.projects}
    lakekit.publish_snapshot(root, START, listings)
    return root / "inventory.duckdb"


def generate_history(root: Path, *, days: int, projects: int, pools: int, churn: int, seed: int = 3,
                     per_snapshot: bool = False) -> Path:
    """Write a generated history under root/lake and its catalog root/catalog.duckdb; return the catalog.

    per_snapshot: one Parquet file per snapshot and table, listed one by one in the views (union_by_name), as
    the real catalog does; else one file per day and table (faster to generate)."""
    base = _base(root / "base", projects, pools, seed)
    hours = days * 24
    con = duckdb.connect(str(base), read_only=True)
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"""
        CREATE TEMP TABLE h AS
        SELECT range::INTEGER AS h,
               TIMESTAMPTZ '{START.isoformat()}' + range * INTERVAL 1 HOUR AS at,
               strftime(TIMESTAMPTZ '{START.isoformat()}' + range * INTERVAL 1 HOUR, '%Y%m%dT%H%M%SZ') AS sid
        FROM range({hours})
    """)
    # present(pool, hour): not in an absence stretch, and its project's listing did not fail
    keep = ("NOT (hash(t.pool_id, h.h // 168) % 40 = 0 AND h.h % 168 >= 24) "
            "AND hash(t.project_id, h.h) % 100 <> 0")
    lake = root / "lake"
    parts = "snapshot_day, snapshot_id" if per_snapshot else "snapshot_day"
    lake.mkdir(parents=True, exist_ok=True)
    perturbed = {
        "pools": f"CASE WHEN hash(t.pool_id, h.h // 24) % {churn} = 0 THEN 'Abnormal' ELSE t.phase END AS phase",
        "pool_capacity": (f"t.count + CASE WHEN hash(t.pool_id, t.flavor, h.h // 6) % {churn} = 0 THEN 1 ELSE 0 END"
                          " AS count"),
    }
    for table in POOL_TABLES:
        cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()
                if r[0] not in ("snapshot_id", "snapshot_at", "snapshot_day")]
        exprs = []
        for c in cols:
            p = perturbed.get(table, "")
            exprs.append(p if p.endswith(f" AS {c}") else f"t.{c}")
        select = (f"SELECT h.sid AS snapshot_id, h.at AS snapshot_at, {', '.join(exprs)}, "
                  f"CAST(timezone('UTC', h.at) AS DATE) AS snapshot_day FROM {table} AS t, h WHERE {keep}")
        if table == "pool_labels":
            select += (" UNION ALL SELECT h.sid, h.at, t.region, t.project_id, t.pool_id, 'bench/epoch', "
                       "(h.h // 48)::VARCHAR, CAST(timezone('UTC', h.at) AS DATE) FROM pools AS t, h "
                       f"WHERE {keep} AND hash(t.pool_id) % 20 = 0")
        con.execute(f"COPY ({select}) TO '{lake / table}' "
                    "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, "
                    f"PARTITION_BY ({parts}), OVERWRITE_OR_IGNORE true)")
    cols = [r[0] for r in con.execute("DESCRIBE fetches").fetchall()
            if r[0] not in ("snapshot_id", "snapshot_at", "snapshot_day", "outcome", "http_status")]
    confirm = {"call": "'show_pool' AS call", "pool_id": "g.pool_id AS pool_id",
               "error_code": "'ModelArts.50015001' AS error_code", "reason": "'http_404' AS reason",
               "error_msg": "'pool not found' AS error_msg"}
    con.execute(f"""
        COPY (SELECT h.sid AS snapshot_id, h.at AS snapshot_at, {', '.join('t.' + c for c in cols)},
                     CASE WHEN hash(t.project_id, h.h) % 100 = 0 THEN 'error' ELSE 'ok' END AS outcome,
                     CASE WHEN hash(t.project_id, h.h) % 100 = 0 THEN 403 ELSE 200 END AS http_status,
                     CAST(timezone('UTC', h.at) AS DATE) AS snapshot_day
              FROM fetches AS t, h
              UNION ALL BY NAME
              -- the ShowPool that confirms each deletion, as the fetch makes it: in the first snapshot of an
              -- absence stretch whose listing of the project succeeded (then the pool is no longer known)
              SELECT h.sid AS snapshot_id, h.at AS snapshot_at, {', '.join(confirm.get(c, 't.' + c) for c in cols)},
                     'error' AS outcome, 404 AS http_status, CAST(timezone('UTC', h.at) AS DATE) AS snapshot_day
              FROM (SELECT p.region, p.project_id, p.pool_id, min(h.h) AS first_h
                    FROM pools AS p, h
                    WHERE hash(p.pool_id, h.h // 168) % 40 = 0 AND h.h % 168 >= 24
                      AND hash(p.project_id, h.h) % 100 <> 0
                    GROUP BY p.region, p.project_id, p.pool_id, h.h // 168) AS g
              JOIN h ON h.h = g.first_h
              JOIN fetches AS t ON t.region = g.region AND t.project_id = g.project_id AND t.call = 'list_pools')
        TO '{lake / 'fetches'}' (FORMAT parquet, PARTITION_BY ({parts}), OVERWRITE_OR_IGNORE true)
    """)
    con.execute(f"COPY (SELECT * EXCLUDE (snapshot_day) FROM rejected_documents LIMIT 0) "
                f"TO '{lake / 'rejected_documents.parquet'}' (FORMAT parquet)")
    con.close()
    catalog = root / "catalog.duckdb"
    out = duckdb.connect(str(catalog))
    for table in (*POOL_TABLES, "fetches"):
        files = sorted((lake / table).rglob("*.parquet"))
        listing = ", ".join(f"'{f}'" for f in files)
        out.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet([{listing}], "
                    "union_by_name = true, hive_partitioning = true, hive_types = {'snapshot_day': DATE})")
    out.execute(f"CREATE OR REPLACE VIEW rejected_documents AS "
                f"SELECT * FROM read_parquet('{lake / 'rejected_documents.parquet'}')")
    out.close()
    return catalog


def expected_counts(catalog: Path, churn: int) -> dict[str, int]:
    """The changes the generator's rules imply, computed independently (per pool and hour, in plain SQL over the
    fan-out's own rules rather than the history steps)."""
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        row = con.execute("""
            WITH marks AS (  -- every hour x every pool of the base: present? confirmed gone by a ShowPool 404?
                SELECT p.region, p.project_id, p.pool_id, f.snapshot_at, f.outcome,
                       (SELECT count(*) FROM pools q WHERE q.snapshot_at = f.snapshot_at AND q.pool_id = p.pool_id
                        AND q.project_id = p.project_id) > 0 AS present,
                       EXISTS (SELECT 1 FROM fetches c WHERE c.call = 'show_pool' AND c.http_status = 404
                               AND c.snapshot_at = f.snapshot_at AND c.project_id = p.project_id
                               AND c.pool_id = p.pool_id) AS gone
                FROM (SELECT DISTINCT region, project_id, pool_id FROM pools) p
                JOIN fetches f ON f.project_id = p.project_id AND f.call = 'list_pools'
            ),
            obs AS (  -- observed: present, or confirmed gone; a listing alone observes nothing
                SELECT *, present OR gone AS observed FROM marks
            )
            SELECT count(*) FILTER (WHERE observed AND NOT present AND prev_present) AS deletions
            FROM (SELECT *, lag(present) OVER (PARTITION BY region, project_id, pool_id ORDER BY snapshot_at)
                            AS prev_present
                  FROM obs WHERE observed)
        """).fetchone()
        return {"deleted": int(row[0])}
    finally:
        con.close()


# ------------------------------------------------------------------------------------------------ reference


def reference_changes(catalog: Path) -> list[tuple]:
    """pool_changes computed the obvious way: per pool, walk every snapshot in order; present when in pools,
    absent when a ShowPool 404 ModelArts.50015001 says so (a listing alone proves nothing), else unobserved. Content compared as plain dicts. Written from the rules, independently of sql/history."""
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        snaps = [r[0] for r in con.execute("SELECT DISTINCT snapshot_id FROM fetches ORDER BY 1").fetchall()]
        at_of = dict(con.execute("SELECT DISTINCT snapshot_id, snapshot_at FROM fetches").fetchall())
        gone404 = set(con.execute("SELECT snapshot_id, region, project_id, pool_id FROM fetches WHERE "
                                  "call = 'show_pool' AND outcome = 'error' AND http_status = 404 "
                                  "AND error_code = 'ModelArts.50015001'").fetchall())
        cols = list(CONTENT_COLUMNS)
        content: dict[tuple, dict] = {}
        for row in con.execute(f"SELECT snapshot_id, region, project_id, pool_id, {', '.join(cols)} FROM pools"
                               ).fetchall():
            c = dict(zip(cols, row[4:]))
            if c["created_at"] is not None:
                c["created_at"] = c["created_at"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            content[row[:4]] = c

        def add(sql, make):
            for row in con.execute(sql).fetchall():
                for k, v in make(*row[4:]):
                    if v is not None:
                        content[row[:4]][k] = v

        key = "snapshot_id, region, project_id, pool_id"
        add(f"SELECT {key}, key, value FROM pool_labels", lambda k, v: [(f"labels.{k}", v)])
        add(f"SELECT {key}, key, value FROM pool_annotations", lambda k, v: [(f"annotations.{k}", v)])
        add(f"SELECT {key}, scope_type, requested, state FROM pool_scopes",
            lambda s, r, st: [(f"scopes.{s}.requested", r), (f"scopes.{s}.state", st)])
        add(f"SELECT {key}, flavor, count, max_count FROM pool_resources",
            lambda f, n, m: [(f"resources.{f}.count", n), (f"resources.{f}.max_count", m)])
        add(f"SELECT {key}, flavor, az, count FROM pool_resource_azs", lambda f, z, n: [(f"resource_azs.{f}.{z}", n)])
        add(f"SELECT {key}, state, flavor, sum(count), sum(max_count) FROM pool_capacity GROUP BY ALL",
            lambda s, f, n, m: [(f"capacity.{s}.{f}.count", n), (f"capacity.{s}.{f}.max_count", m)])
        add(f"SELECT {key}, state, flavor, az, sum(count) FROM pool_capacity_azs GROUP BY ALL",
            lambda s, f, z, n: [(f"capacity_azs.{s}.{f}.{z}", n)])
        add(f"SELECT {key}, list(job_flavor ORDER BY job_flavor) FROM pool_job_flavors GROUP BY ALL",
            lambda jf: [("job_flavors", jf)])
    finally:
        con.close()
    for c in content.values():  # counts come back as HUGEINT sums (Python int) or int: same JSON
        for k, v in c.items():
            if isinstance(v, int) and not isinstance(v, bool):
                c[k] = int(v)
    pools = sorted({k[1:] for k in content})
    out = []
    for region, project, pool in pools:
        alive, seen, last, last_obs, ws = False, False, None, None, None
        for sid in snaps:
            now = content.get((sid, region, project, pool))
            if now is not None:
                if not alive:
                    out.append((sid, region, project, pool, "created", sorted(now), None, now, last_obs))
                elif now != last:
                    changed = sorted(k for k in set(now) | set(last) if now.get(k) != last.get(k))
                    out.append((sid, region, project, pool, "updated", changed, {k: last.get(k) for k in changed},
                                {k: now.get(k) for k in changed}, last_obs))
                alive, seen, last, last_obs, ws = True, True, now, sid, now["workspace_id"]
                continue
            # Deletions are confirmed, never inferred: only a ShowPool 404 observes an absence.
            observed = (sid, region, project, pool) in gone404
            if seen and observed:
                if alive:
                    out.append((sid, region, project, pool, "deleted", sorted(last), last, None, last_obs))
                alive, last_obs = False, sid
    return sorted(out, key=lambda r: (at_of[r[0]], r[1], r[2], r[3]))


def run(days: int, projects: int, pools: int, churn: int, workdir: Path | None = None,
        per_snapshot: bool = False) -> dict:
    root = Path(workdir or tempfile.mkdtemp(prefix="history-scale-"))
    catalog = root / "catalog.duckdb"
    started = time.perf_counter()
    if not catalog.exists():
        generate_history(root, days=days, projects=projects, pools=pools, churn=churn, per_snapshot=per_snapshot)
    generated = time.perf_counter() - started
    con = duckdb.connect(str(catalog), read_only=True)
    sizes = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in POOL_TABLES}
    started = time.perf_counter()
    counts = build_history(con, root / "history")
    took = time.perf_counter() - started
    con.close()
    return {"root": str(root), "generate_s": round(generated, 1), "build_s": round(took, 2), "rows": sizes,
            "history": counts}


def test_generated_history_small(tmp_path):
    """8 days x 200 pools (deletions in week 1, re-creations in week 2, failed hours): the deletions match an
    independent per-hour count, the versions tile, and every row matches a plain-Python reference."""
    catalog = generate_history(tmp_path, days=8, projects=4, pools=50, churn=10)
    con = duckdb.connect(str(catalog), read_only=True)
    counts = build_history(con, tmp_path / "history")
    con.close()
    q = duckdb.connect()
    changes = f"read_parquet('{tmp_path / 'history' / 'pool_changes.parquet'}')"
    versions = f"read_parquet('{tmp_path / 'history' / 'pool_versions.parquet'}')"
    by_type = dict(q.execute(f"SELECT change_type, count(*) FROM {changes} GROUP BY ALL").fetchall())
    assert by_type.get("deleted", 0) == expected_counts(catalog, 10)["deleted"]
    # every pool's versions tile its history: consecutive, no overlaps, valid_to of one = valid_from of the next
    # unless the version ended with a deletion
    bad = q.execute(f"""
        SELECT count(*) FROM (
            SELECT *, lead(valid_from) OVER (PARTITION BY region, project_id, pool_id ORDER BY version) AS nxt
            FROM {versions})
        WHERE (ended_by = 'updated' AND valid_to <> nxt) OR (ended_by = 'deleted' AND valid_to >= nxt)
           OR (ended_by IS NULL AND nxt IS NOT NULL) OR valid_to <= valid_from
    """).fetchone()[0]
    assert bad == 0
    # created + updated = versions; a deletion per version ended by deletion
    assert by_type.get("created", 0) + by_type.get("updated", 0) == counts["pool_versions"]
    assert q.execute(f"SELECT count(*) FROM {versions} WHERE ended_by = 'deleted'").fetchone()[0] == by_type["deleted"]
    # the failed hours delete nothing: no deletion at an hour whose project listing failed
    assert q.execute(f"""
        SELECT count(*) FROM {changes} c
        JOIN read_parquet('{tmp_path / 'lake' / 'fetches'}/*/*.parquet') f
          ON f.snapshot_id = c.snapshot_id AND f.project_id = c.project_id AND f.call = 'list_pools'
        WHERE c.change_type = 'deleted' AND f.outcome <> 'ok'
    """).fetchone()[0] == 0
    # the perturbed fields are the ones seen changing
    fields = {r[0] for r in q.execute(
        f"SELECT DISTINCT unnest(changed_fields) FROM {changes} WHERE change_type = 'updated'").fetchall()}
    assert "phase" in fields and "labels.bench/epoch" in fields
    assert any(f.startswith("capacity.") and f.endswith(".count") for f in fields)
    # and row for row, values included, the same as the plain-Python reference
    got = [(s, r, p, i, t, f, json.loads(b) if b else None, json.loads(a) if a else None, prev)
           for s, r, p, i, t, f, b, a, prev in q.execute(
               f"SELECT snapshot_id, region, project_id, pool_id, change_type, changed_fields, before::VARCHAR, "
               f"after::VARCHAR, previous_snapshot_id FROM {changes}").fetchall()]
    assert got == reference_changes(catalog)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--projects", type=int, default=20)
    ap.add_argument("--pools", type=int, default=100)
    ap.add_argument("--churn", type=int, default=50, help="1/churn of pools toggle per period")
    ap.add_argument("--workdir", type=Path, default=None, help="reuse a generated history here")
    ap.add_argument("--per-snapshot", action="store_true", help="one file per snapshot and table, as the lake")
    args = ap.parse_args()
    print(run(args.days, args.projects, args.pools, args.churn, args.workdir, args.per_snapshot))
