"""build_history(): pool_changes and pool_versions, checked value by value against hand-computed expectations.

One story of four hourly snapshots (S1..S4) goes through the real pipeline (landing, normalize, commit,
catalog; see tests/lakekit.py), one project per scenario, so every expectation below can be worked out from the
table in `story()` by hand:

    project    S1 (00:00)              S2 (01:00)                  S3 (02:00)                  S4 (03:00)
    p-edit     ph drv bill lab scp     ph Abnormal, drv 535,       lab team=y, cnt +1          lab team removed
               cnt same                bill "1", lab +team=x       abnormal node
                                       +a.b/c, scp Disabling,
                                       cnt 2 -> 3 available
    p-del      a b                     a          (b deleted)      a                           a b (b re-created)
    p-403      c d                     HTTP 403   (nothing)        c Abnormal (d deleted)      c
    p-twin1    twin (1 node)           twin (2 nodes)              same                        same
    p-twin2    twin (1 node)           same                        same                        same
    p-show     a b c                   list 500; show a 404,       list: b c                   list: b c
                                       b ok, c 500  (a deleted)
    p-rej      a b                     a + an unreadable item      a          (b deleted)      a
    p-ws       w1a (ws w1) w2a (ws w2) ws=w1 listing: nothing      label_selector listing:     w2a
                                       (w1a deleted)               nothing
    p-glitch   g1 g2                   listing: nothing; show g1   g1 g2                       g1 g2
                                       ok, g2 503 (nothing deleted)

Deletions are confirmed, never inferred: each pool that a covering listing misses is asked for with ShowPool in
the same snapshot (pipeline/land/fetch.py does it; here the story lands those calls itself): p-del/b and p-ws/w1a in
S2, p-403/d and p-rej/b in S3 answer 404. p-glitch is the listing glitch: missing pools that still exist.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

import lakekit
from lakekit import ENDPOINT, pool_doc, utc
from pipeline.catalog.docs import SQL_ROOT, parse_header, table_docs
from pipeline.catalog.views import lake_connection
from pipeline.history.full import CONTENT_COLUMNS, build_history
from pipeline.land.landing import RawLanding, TargetRef
from pipeline.lake.layout import Layout
from pipeline.lake.store import writer_lock
from pipeline.check.checks import check
from pipeline.lake.commit import publish
from pipeline.normalize.step import stage

R = "cn-north-4"
T1, T2, T3, T4 = (utc(2026, 11, 1, h) for h in range(4))
S1, S2, S3, S4 = (t.strftime("%Y%m%dT%H%M%SZ") for t in (T1, T2, T3, T4))


# ------------------------------------------------------------------------------------------------ the story


def land(root: Path, at, calls: list[tuple[str, TargetRef, str | None, object]]) -> str:
    """Like lakekit.publish_snapshot, but each call names its own TargetRef (so listings can carry filters).
    calls: (call, target, pool_id, result) with result a body (dict/list) or an HTTP status."""
    layout = Layout(root)
    landing = RawLanding(layout, at.strftime("%Y%m%dT%H%M%SZ"), at)
    targets = []
    for call, ref, pool_id, result in calls:
        targets.append({"region": ref.region, "project_id": ref.project_id, "endpoint": ref.endpoint,
                        "workspace_id": ref.workspace_id})
        if call == "list_pools" and not isinstance(result, int):
            result = {"apiVersion": "v2", "kind": "PoolList", "items": result}
        path = f"/v2/{ref.project_id}/pools" + (f"/{pool_id}" if pool_id else "")
        lakekit._record(landing, call, ref, pool_id, path, at, result)
    raw_dir = landing.seal({"targets": targets})
    with writer_lock(layout):
        staged = stage(layout, raw_dir, landing.snapshot_id)
        publish(layout, staged, check(staged))
    return landing.snapshot_id


def listing(project: str, result, **filters):
    return ("list_pools", TargetRef(R, project, ENDPOINT, **filters), None, result)


def show(project: str, pool: str, result):
    return ("show_pool", TargetRef(R, project, ENDPOINT), pool, result)


def with_scope_state(doc: dict, state: str) -> dict:
    doc = json.loads(json.dumps(doc))
    doc["status"]["scope"][0]["state"] = state
    return doc


def edit_pools(step: int) -> list[dict]:
    """p-edit: one pool per kind of change."""
    team = {1: None, 2: "x", 3: "y", 4: None}[step]
    labels = {"a.b/c": "1"} if step >= 2 else {}
    if team:
        labels["team"] = team
    scp = pool_doc("scp")
    return [
        pool_doc("ph", phase="Running" if step == 1 else "Abnormal"),
        pool_doc("drv", gpu_driver="470.57" if step == 1 else "535.104"),
        pool_doc("bill", billing_mode="0" if step == 1 else "1"),
        pool_doc("lab", labels=labels),
        scp if step == 1 else with_scope_state(scp, "Disabling"),
        pool_doc("cnt", requested={"f1": 2}, available={"f1": 2 if step == 1 else 3},
                 abnormal={"f1": 1} if step >= 3 else None),
        pool_doc("same", available={"f1": 4}, job_flavors=["jf.b", "jf.a"]),
    ]


def story_steps() -> list[list]:
    """The calls of S1..S4 (also folded one by one in test_history_incremental.py)."""
    a, b, c, d = (pool_doc(n) for n in "abcd")
    twin1 = lambda n: pool_doc("twin", available={"f1": n})  # noqa: E731
    w1a, w2a = pool_doc("w1a", workspace_id="w1"), pool_doc("w2a", workspace_id="w2")
    g1, g2 = pool_doc("g1"), pool_doc("g2")
    return [[
        listing("p-edit", edit_pools(1)), listing("p-del", [a, b]), listing("p-403", [c, d]),
        listing("p-twin1", [twin1(1)]), listing("p-twin2", [twin1(1)]), listing("p-show", [a, b, c]),
        listing("p-rej", [a, b]), listing("p-ws", [w1a, w2a]), listing("p-glitch", [g1, g2]),
    ], [
        listing("p-edit", edit_pools(2)), listing("p-del", [a]), listing("p-403", 403),
        listing("p-twin1", [twin1(2)]), listing("p-twin2", [twin1(1)]),
        listing("p-show", 500), show("p-show", "a", 404), show("p-show", "b", b), show("p-show", "c", 500),
        listing("p-rej", [a, 3]), listing("p-ws", [], workspace_id="w1"),
        show("p-del", "b", 404), show("p-ws", "w1a", 404),
        listing("p-glitch", []), show("p-glitch", "g1", g1), show("p-glitch", "g2", 503),
    ], [
        listing("p-edit", edit_pools(3)), listing("p-del", [a]), listing("p-403", [pool_doc("c", phase="Abnormal")]),
        listing("p-twin1", [twin1(2)]), listing("p-twin2", [twin1(1)]), listing("p-show", [b, c]),
        listing("p-rej", [a]), listing("p-ws", [], label_selector="team=x"),
        show("p-403", "d", 404), show("p-rej", "b", 404), listing("p-glitch", [g1, g2]),
    ], [
        listing("p-edit", edit_pools(4)), listing("p-del", [a, b]), listing("p-403", [pool_doc("c", phase="Abnormal")]),
        listing("p-twin1", [twin1(2)]), listing("p-twin2", [twin1(1)]), listing("p-show", [b, c]),
        listing("p-rej", [a]), listing("p-ws", [w2a]), listing("p-glitch", [g1, g2]),
    ]]


def story(root: Path) -> None:
    for at, calls in zip((T1, T2, T3, T4), story_steps()):
        land(root, at, calls)


class History:
    def __init__(self, root: Path, out: Path, counts: dict[str, int]):
        self.root = root
        self.out = out
        self.counts = counts
        self.con = duckdb.connect()
        self.con.execute(f"CREATE VIEW pool_changes AS SELECT * FROM read_parquet('{out / 'pool_changes.parquet'}')")
        self.con.execute(f"CREATE VIEW pool_versions AS SELECT * FROM read_parquet('{out / 'pool_versions.parquet'}')")

    def rows(self, sql: str, *params) -> list[tuple]:
        return self.con.execute(sql, list(params)).fetchall()

    def changes(self, project: str, pool: str) -> list[tuple]:
        """(snapshot_id, change_type, changed_fields, before, after, previous_snapshot_id) in time order."""
        rows = self.rows("SELECT snapshot_id, change_type, changed_fields, before::VARCHAR, after::VARCHAR, "
                         "previous_snapshot_id FROM pool_changes WHERE project_id = ? AND pool_id = ? "
                         "ORDER BY snapshot_at", project, pool)
        return [(s, t, f, json.loads(b) if b else None, json.loads(a) if a else None, p) for s, t, f, b, a, p in rows]

    def updates(self, project: str, pool: str) -> list[tuple]:
        return [(s, f, b, a, p) for s, t, f, b, a, p in self.changes(project, pool) if t == "updated"]

    def versions(self, project: str, pool: str) -> list[tuple]:
        """(version, valid_from, valid_to, ended_by, first_snapshot_id, last_snapshot_id)."""
        return self.rows("SELECT version, valid_from, valid_to, ended_by, first_snapshot_id, last_snapshot_id "
                         "FROM pool_versions WHERE project_id = ? AND pool_id = ? ORDER BY version", project, pool)


@pytest.fixture(scope="module")
def hist(tmp_path_factory) -> History:
    root = tmp_path_factory.mktemp("history")
    story(root)
    con = duckdb.connect(str(root / "inventory.duckdb"), read_only=True)
    try:
        counts = build_history(con, root / "history")
    finally:
        con.close()
    return History(root, root / "history", counts)


# ------------------------------------------------------------------------------------------------ pool_changes


def test_counts(hist):
    # created: 22 pools in S1 + p-del/b again in S4; updated: 7 in S2, 3 in S3, 1 in S4;
    # deleted (each confirmed by a ShowPool 404): p-del/b, p-show/a, p-ws/w1a in S2; p-403/d, p-rej/b in S3
    by = dict(hist.rows("SELECT change_type, count(*) FROM pool_changes GROUP BY ALL"))
    assert by == {"created": 23, "updated": 11, "deleted": 5}
    per_snapshot = dict(hist.rows("SELECT snapshot_id, count(*) FROM pool_changes GROUP BY ALL"))
    assert per_snapshot == {S1: 22, S2: 10, S3: 5, S4: 2}
    assert hist.counts == {"pool_changes": 39, "pool_versions": 34}


def test_creation(hist):
    [(sid, kind, fields, before, after, prev)] = hist.changes("p-edit", "same")
    assert (sid, kind, before, prev) == (S1, "created", None, None)
    assert fields == sorted(after) == list(after)  # keys sorted, and changed_fields = every field path
    assert after["phase"] == "Running" and after["pool_type"] == "Dedicate" and after["display_name"] == "same"
    assert after["capacity.available.f1.count"] == 4
    assert after["resources.f1.count"] == 4 and after["resources.f1.max_count"] == 4
    assert after["labels.os.modelarts/workspace.id"] == "0"
    assert after["annotations.os.modelarts/billing.mode"] == "0" and after["billing_mode"] == "pay_per_use"
    assert after["scopes.Train.requested"] is True and after["scopes.Train.state"] == "Enabled"
    assert after["job_flavors"] == ["jf.a", "jf.b"]
    assert after["created_at"] == "2026-10-01T00:00:00Z"
    assert after["message"] is None and "message" in after  # pools columns are always present, null when NULL
    assert not any(k.startswith("capacity.abnormal") for k in after)  # child fields only when they exist
    assert set(CONTENT_COLUMNS) <= set(after)


def test_no_change_no_row(hist):
    assert [c[1] for c in hist.changes("p-edit", "same")] == ["created"]
    assert [c[1] for c in hist.changes("p-twin2", "twin")] == ["created"]


def test_node_count_change(hist):
    # A state entry without maxCount reads it as its count (physical pools), so it changes with the count.
    avail, abn = "capacity.available.f1.", "capacity.abnormal.f1."
    assert hist.updates("p-edit", "cnt") == [
        (S2, [avail + "count", avail + "max_count"], {avail + "count": 2, avail + "max_count": 2},
         {avail + "count": 3, avail + "max_count": 3}, S1),
        (S3, [abn + "count", abn + "max_count"], {abn + "count": None, abn + "max_count": None},
         {abn + "count": 1, abn + "max_count": 1}, S2),
    ]


def test_phase_change(hist):
    assert hist.updates("p-edit", "ph") == [(S2, ["phase"], {"phase": "Running"}, {"phase": "Abnormal"}, S1)]


def test_driver_upgrade(hist):
    assert hist.updates("p-edit", "drv") == [
        (S2, ["gpu_driver_version"], {"gpu_driver_version": "470.57"}, {"gpu_driver_version": "535.104"}, S1)]


def test_billing_annotation_change(hist):
    key = "annotations.os.modelarts/billing.mode"
    assert hist.updates("p-edit", "bill") == [
        (S2, [key, "billing_mode"], {key: "0", "billing_mode": "pay_per_use"},
         {key: "1", "billing_mode": "yearly_monthly"}, S1)]


def test_labels_added_changed_removed(hist):
    assert hist.updates("p-edit", "lab") == [
        (S2, ["labels.a.b/c", "labels.team"], {"labels.a.b/c": None, "labels.team": None},
         {"labels.a.b/c": "1", "labels.team": "x"}, S1),
        (S3, ["labels.team"], {"labels.team": "x"}, {"labels.team": "y"}, S2),
        (S4, ["labels.team"], {"labels.team": "y"}, {"labels.team": None}, S3),
    ]


def test_scope_state_change(hist):
    assert hist.updates("p-edit", "scp") == [
        (S2, ["scopes.Train.state"], {"scopes.Train.state": "Enabled"}, {"scopes.Train.state": "Disabling"}, S1)]


def test_deletion_after_successful_listing(hist):
    created = hist.changes("p-del", "b")[0]
    deleted = hist.changes("p-del", "b")[1]
    assert deleted[:2] == (S2, "deleted") and deleted[4] is None and deleted[5] == S1
    assert deleted[3] == created[4]  # before = the whole last content
    assert deleted[2] == sorted(deleted[3])
    assert [c[1] for c in hist.changes("p-del", "a")] == ["created"]


def test_deleted_once_then_recreated(hist):
    # confirmed absent in S2 (ShowPool 404); no longer known, so not asked for in S3; seen again in S4:
    # created, compared with S2 (the latest snapshot that saw it absent)
    assert [(s, t, p) for s, t, _, _, _, p in hist.changes("p-del", "b")] == [
        (S1, "created", None), (S2, "deleted", S1), (S4, "created", S2)]


def test_forbidden_project_deletes_nothing_and_compares_with_last_success(hist):
    # p-403 answered 403 in S2: c and d unobserved there, not deleted; S3 (ok again) is compared with S1
    assert not hist.rows("SELECT * FROM pool_changes WHERE project_id = 'p-403' AND snapshot_id = ?", S2)
    assert hist.updates("p-403", "c") == [(S3, ["phase"], {"phase": "Running"}, {"phase": "Abnormal"}, S1)]
    assert [(s, t, p) for s, t, _, _, _, p in hist.changes("p-403", "d")] == [
        (S1, "created", None), (S3, "deleted", S1)]


def test_same_pool_name_in_two_projects(hist):
    fields = ["capacity.available.f1.count", "capacity.available.f1.max_count", "resources.f1.count",
              "resources.f1.max_count"]
    assert hist.updates("p-twin1", "twin") == [
        (S2, fields, dict.fromkeys(fields, 1), dict.fromkeys(fields, 2), S1)]
    assert hist.updates("p-twin2", "twin") == []
    assert len(hist.versions("p-twin1", "twin")) == 2 and len(hist.versions("p-twin2", "twin")) == 1


def test_show_pool_404_deletes_other_errors_do_not(hist):
    assert [(s, t, p) for s, t, _, _, _, p in hist.changes("p-show", "a")] == [
        (S1, "created", None), (S2, "deleted", S1)]
    assert [c[1] for c in hist.changes("p-show", "b")] == ["created"]  # show ok in S2: present, unchanged
    assert [c[1] for c in hist.changes("p-show", "c")] == ["created"]  # show 500 in S2: unobserved
    assert hist.versions("p-show", "b")[0][5] == S4


def test_a_listing_glitch_deletes_nothing(hist):
    """S2's listing of p-glitch is empty although both pools exist: g1's ShowPool answers (it stays observed,
    unchanged), g2's fails (unobserved): neither is deleted, and S3's full listing changes nothing."""
    for pool in ("g1", "g2"):
        assert [(c[0], c[1]) for c in hist.changes("p-glitch", pool)] == [(S1, "created")]
        assert [v[2:4] for v in hist.versions("p-glitch", pool)] == [(None, None)]
    [(*_, last)] = hist.versions("p-glitch", "g1")
    assert last == S4


def test_a_listing_alone_deletes_nothing(tmp_path):
    """A covering listing that misses a pool, with no ShowPool confirming it gone: not a deletion (before, it
    was one, and the pool came back as created an hour later)."""
    a, b = pool_doc("a"), pool_doc("b")
    land(tmp_path, T1, [listing("p", [a, b])])
    land(tmp_path, T2, [listing("p", [a])])
    land(tmp_path, T3, [listing("p", [a, b])])
    con = duckdb.connect(str(tmp_path / "inventory.duckdb"), read_only=True)
    try:
        build_history(con, tmp_path / "history")
    finally:
        con.close()
    rows = duckdb.sql(f"SELECT pool_id, change_type FROM read_parquet('{tmp_path / 'history' / 'pool_changes.parquet'}') "
                      "ORDER BY ALL").fetchall()
    assert rows == [("a", "created"), ("b", "created")]


def test_unreadable_listing_proves_nothing(hist):
    # S2's p-rej listing held an item that could not be read: it might have been b, so b is unobserved there
    assert [(s, t, p) for s, t, _, _, _, p in hist.changes("p-rej", "b")] == [
        (S1, "created", None), (S3, "deleted", S1)]


def test_workspace_and_label_filtered_listings(hist):
    # a workspace-filtered listing observes that workspace only; a label_selector listing observes nothing
    assert [(s, t, p) for s, t, _, _, _, p in hist.changes("p-ws", "w1a")] == [
        (S1, "created", None), (S2, "deleted", S1)]
    assert [c[1] for c in hist.changes("p-ws", "w2a")] == ["created"]
    assert hist.versions("p-ws", "w2a") == [(1, T1, None, None, S1, S4)]


def test_changed_fields_sorted_and_json_types(hist):
    rows = hist.rows("SELECT changed_fields, typeof(before), typeof(after) FROM pool_changes")
    assert all(f == sorted(f) for f, _, _ in rows)
    assert {(b, a) for _, b, a in rows} == {("JSON", "JSON")}
    # keys of before/after are exactly changed_fields for updates
    bad = hist.rows("SELECT count(*) FROM pool_changes WHERE change_type = 'updated' "
                    "AND (json_keys(before) <> changed_fields OR json_keys(after) <> changed_fields)")
    assert bad == [(0,)]


# ------------------------------------------------------------------------------------------------ pool_versions


def test_versions_of_updates(hist):
    assert hist.versions("p-edit", "lab") == [
        (1, T1, T2, "updated", S1, S1), (2, T2, T3, "updated", S2, S2),
        (3, T3, T4, "updated", S3, S3), (4, T4, None, None, S4, S4)]
    assert hist.versions("p-edit", "ph") == [(1, T1, T2, "updated", S1, S1), (2, T2, None, None, S2, S4)]
    assert hist.versions("p-edit", "same") == [(1, T1, None, None, S1, S4)]


def test_versions_across_failure_and_deletion(hist):
    # c: S2 unobserved, so version 1's last observation is S1 and it ends at S3's change
    assert hist.versions("p-403", "c") == [(1, T1, T3, "updated", S1, S1), (2, T3, None, None, S3, S4)]
    assert hist.versions("p-403", "d") == [(1, T1, T3, "deleted", S1, S1)]
    assert hist.versions("p-del", "b") == [(1, T1, T2, "deleted", S1, S1), (2, T4, None, None, S4, S4)]
    assert hist.versions("p-rej", "b") == [(1, T1, T3, "deleted", S1, S1)]


def test_version_content_and_flat_columns(hist):
    [(content, phase, billing, pool_type, display)] = hist.rows(
        "SELECT content::VARCHAR, phase, billing_mode, pool_type, display_name FROM pool_versions "
        "WHERE project_id = 'p-edit' AND pool_id = 'bill' AND version = 2")
    content = json.loads(content)
    assert (phase, billing, pool_type, display) == ("Running", "yearly_monthly", "Dedicate", "bill")
    assert content["billing_mode"] == "yearly_monthly" and content["annotations.os.modelarts/billing.mode"] == "1"
    # version 1's content is the creation's `after`; version 2's = version 1's patched with the update
    v1 = json.loads(hist.rows("SELECT content::VARCHAR FROM pool_versions WHERE project_id = 'p-edit' "
                              "AND pool_id = 'bill' AND version = 1")[0][0])
    created, updated = hist.changes("p-edit", "bill")
    assert v1 == created[4]
    assert {**v1, **updated[4]} == content


def test_as_of_query(hist):
    def as_of(project, pool, moment):
        return hist.rows("SELECT version, phase, content->>'labels.team' FROM pool_versions "
                         "WHERE project_id = ? AND pool_id = ? AND valid_from <= ? "
                         "AND (valid_to IS NULL OR valid_to > ?)", project, pool, moment, moment)

    half = timedelta(minutes=30)
    assert as_of("p-del", "b", T1 + half) == [(1, "Running", None)]
    assert as_of("p-del", "b", T2) == []           # deleted at T2
    assert as_of("p-del", "b", T3 + half) == []
    assert as_of("p-del", "b", T4 + half) == [(2, "Running", None)]
    assert as_of("p-edit", "lab", T3) == [(3, "Running", "y")]
    assert as_of("p-edit", "lab", T3 - half) == [(2, "Running", "x")]
    assert as_of("p-403", "c", T2 + half) == [(1, "Running", None)]  # S2 unobserved: the S1 content holds
    assert as_of("p-edit", "ph", T1 - half) == []


def test_versions_tile_each_pool(hist):
    bad = hist.rows("""
        SELECT count(*) FROM (
            SELECT *, lead(valid_from) OVER (PARTITION BY region, project_id, pool_id ORDER BY version) AS nxt,
                      row_number() OVER (PARTITION BY region, project_id, pool_id ORDER BY valid_from) AS rn
            FROM pool_versions)
        WHERE rn <> version OR (ended_by = 'updated' AND valid_to <> nxt) OR (ended_by = 'deleted' AND valid_to >= nxt)
           OR (ended_by IS NULL AND (nxt IS NOT NULL OR valid_to IS NOT NULL)) OR valid_to <= valid_from
    """)
    assert bad == [(0,)]


# ------------------------------------------------------------------------------------------------ schema, docs


def test_empty_history_has_the_schema(hist, tmp_path):
    con = lake_connection(Layout(tmp_path / "empty"))  # the catalog's views over a lake with no snapshot yet
    out = tmp_path / "out"
    assert build_history(con, out) == {"pool_changes": 0, "pool_versions": 0}
    tmp_path = out
    for table in ("pool_changes", "pool_versions"):
        empty = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{tmp_path / table}.parquet')").fetchall()
        full = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{hist.out / table}.parquet')").fetchall()
        assert [r[:2] for r in empty] == [r[:2] for r in full]


def test_lake_without_filter_columns(hist, tmp_path):
    """A lake written before fetches recorded label_selector/status_filter (the missing columns read as NULL):
    the same history, since a listing, filtered or not, never proves a pool gone (only a ShowPool 404 does)."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{hist.root / 'inventory.duckdb'}' AS inv (READ_ONLY)")
    for (view,) in con.execute("SELECT view_name FROM duckdb_views() WHERE database_name = 'inv'").fetchall():
        drop = " EXCLUDE (label_selector, status_filter)" if view == "fetches" else ""
        con.execute(f"CREATE VIEW main.{view} AS SELECT *{drop} FROM inv.{view}")
    counts = build_history(con, tmp_path)
    assert counts == hist.counts
    rows = con.execute(f"SELECT snapshot_id, change_type, previous_snapshot_id FROM "
                       f"read_parquet('{tmp_path / 'pool_changes.parquet'}') WHERE pool_id = 'w2a' "
                       "ORDER BY snapshot_at").fetchall()
    assert rows == [(S1, "created", None)]


def test_lake_without_fetches(hist, tmp_path):
    """No fetch rows (a hand-made lake: the catalog's fetches view is there, empty): nothing can be proven gone, so
    no deletions; snapshot ids come from the snapshot times."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{hist.root / 'inventory.duckdb'}' AS inv (READ_ONLY)")
    for (view,) in con.execute("SELECT view_name FROM duckdb_views() WHERE database_name = 'inv'").fetchall():
        empty = " WHERE false" if view == "fetches" else ""
        con.execute(f"CREATE VIEW main.{view} AS SELECT * FROM inv.{view}{empty}")
    assert build_history(con, tmp_path) == {"pool_changes": 33, "pool_versions": 33}
    changes = f"read_parquet('{tmp_path / 'pool_changes.parquet'}')"
    assert con.execute(f"SELECT change_type, count(*) FROM {changes} GROUP BY ALL ORDER BY 1").fetchall() == [
        ("created", 22), ("updated", 11)]
    assert con.execute(f"SELECT DISTINCT snapshot_id FROM {changes} ORDER BY 1").fetchall() == [
        (S1,), (S2,), (S3,), (S4,)]


def test_every_column_documented(hist):
    docs = table_docs(("history",))
    assert set(docs) == {"pool_changes", "pool_versions"}
    for table, doc in docs.items():
        described = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{hist.out / table}.parquet')").fetchall()
        assert [r[0] for r in described] == list(doc.columns), table
        assert doc.description and all(doc.columns.values())
    types = {r[0]: r[1] for r in duckdb.sql(
        f"DESCRIBE SELECT * FROM read_parquet('{hist.out / 'pool_changes.parquet'}')").fetchall()}
    assert types["changed_fields"] == "VARCHAR[]" and types["before"] == "JSON" and types["snapshot_at"].startswith(
        "TIMESTAMP WITH TIME ZONE")


def test_content_columns_are_the_pools_columns():
    """Every pools column but the snapshot/source ones is part of a pool's content (a new column must be added to
    sql/history and CONTENT_COLUMNS, or excluded here on purpose)."""
    pools = parse_header((SQL_ROOT / "normalize" / "pools.sql").read_text(encoding="utf-8"), "pools")
    # workspace_id_assumed: whether the workspace label is absent, which the content's labels.<key> fields
    # already hold (an added or removed label is already a change).
    excluded = {"snapshot_id", "snapshot_at", "snapshot_day", "source", "response_id", "region", "project_id",
                "pool_id", "workspace_id_assumed"}
    assert [c for c in pools.columns if c not in excluded] == list(CONTENT_COLUMNS)
    for name in ("_observations", "_rows", "_macros", "pool_versions", "_state", "_fold_now"):
        text = (SQL_ROOT / "history" / f"{name}.sql").read_text(encoding="utf-8")
        assert all(c in text for c in CONTENT_COLUMNS), name
