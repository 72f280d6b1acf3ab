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
    .venv/bin/python tests/lake/test_history_scale.py --days 90 --projects 20 --pools 100 --churn 50
The pytest below runs a small version (3 days, 200 pools) and checks the counts against the generator's rules.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import duckdb

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lakekit  # noqa: E402
from pipeline.lake.history import build_history  # noqa: E402
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
    con.execute(f"""
        COPY (SELECT h.sid AS snapshot_id, h.at AS snapshot_at, {', '.join('t.' + c for c in cols)},
                     CASE WHEN hash(t.project_id, h.h) % 100 = 0 THEN 'error' ELSE 'ok' END AS outcome,
                     CASE WHEN hash(t.project_id, h.h) % 100 = 0 THEN 403 ELSE 200 END AS http_status,
                     CAST(timezone('UTC', h.at) AS DATE) AS snapshot_day
              FROM fetches AS t, h)
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
            WITH obs AS (  -- every hour x every pool of the base: present / absent / unobserved
                SELECT p.region, p.project_id, p.pool_id, f.snapshot_at,
                       f.outcome = 'ok' AS observed,
                       (SELECT count(*) FROM pools q WHERE q.snapshot_at = f.snapshot_at AND q.pool_id = p.pool_id
                        AND q.project_id = p.project_id) > 0 AS present
                FROM (SELECT DISTINCT region, project_id, pool_id FROM pools) p
                JOIN fetches f ON f.project_id = p.project_id AND f.call = 'list_pools'
            )
            SELECT count(*) FILTER (WHERE observed AND NOT present AND prev_present) AS deletions
            FROM (SELECT *, lag(present) OVER (PARTITION BY region, project_id, pool_id ORDER BY snapshot_at)
                            AS prev_present
                  FROM obs WHERE observed)
        """).fetchone()
        return {"deleted": int(row[0])}
    finally:
        con.close()


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
    """3 days x 200 pools: build works on the fan-out, and the deletions match an independent per-hour count."""
    catalog = generate_history(tmp_path, days=3, projects=4, pools=50, churn=10)
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
          ON f.snapshot_id = c.snapshot_id AND f.project_id = c.project_id
        WHERE c.change_type = 'deleted' AND f.outcome <> 'ok'
    """).fetchone()[0] == 0
    # the perturbed fields are the ones seen changing
    fields = {r[0] for r in q.execute(
        f"SELECT DISTINCT unnest(changed_fields) FROM {changes} WHERE change_type = 'updated'").fetchall()}
    assert "phase" in fields and "labels.bench/epoch" in fields
    assert any(f.startswith("capacity.") and f.endswith(".count") for f in fields)


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
