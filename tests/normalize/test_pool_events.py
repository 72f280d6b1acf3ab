"""pool_events from ListEvents pages, checked by hand: both documented message forms parsed, anything else kept
raw, unreadable pages skipped, and the catalog's one row per event across overlapping snapshots."""

from datetime import datetime, timezone

import duckdb
import pytest

from lakekit import pool_doc, publish_snapshot, utc

AT = utc(2026, 11, 1, 10)
LATER = utc(2026, 11, 1, 13)
R, P = "r1", "p1"


def event(reason, message, *, type="Normal", count=1, first="2026-11-01T08:00:00Z", last=None, **extra):
    doc = {"apiVersion": "v1", "kind": "Event", "type": type, "reason": reason, "message": message, "count": count}
    if first is not None:
        doc["firstTimestamp"] = first
    if last is not False:
        doc["lastTimestamp"] = last or first
    return {k: v for k, v in {**doc, **extra}.items() if v is not None}


def page(*items, token=None):
    return {"apiVersion": "v1", "kind": "EventList", "metadata": {"continue": token} if token else {},
            "items": list(items)}


FLAP = event("PoolStatusChange", "from Running to Abnormal", type="Warning", first="2026-11-01T08:10:00Z")
SCALE = event("PoolResourcesStatusChange",
              "available/abnormal/creating/deleting count from 1/0/0/0 to 0/1/0/0, timestamp: 1672366579",
              type="Warning", count="2", first="2026-11-01T08:20:00Z", last="2026-11-01T08:20:30Z")
# the state names in another order, no timestamp, millisecond timestamp
REORDERED = event("PoolResourcesStatusChange", "deleting/creating/abnormal/available count from 0/3/0/5 to 0/0/0/8",
                  first="2026-11-01T08:30:00Z")
MILLIS = event("PoolResourcesStatusChange",
               "available/abnormal/creating/deleting count from 8/0/0/0 to 8/0/0/2, timestamp: 1793520000123",  # 08:00:00.123Z
               first="2026-11-01T08:40:00Z")
# other forms: kept raw, nothing parsed
UNKNOWN = event("PoolNodeDrained", "node os-node-created-abcde drained", first="2026-11-01T08:50:00Z")
MISMATCH = event("PoolResourcesStatusChange", "available/abnormal count from 1/0/0 to 0/1, timestamp: 1672366579",
                 first="2026-11-01T09:00:00Z")
WRONG_REASON = event("PoolStatusChange", "available/abnormal/creating/deleting count from 1/0/0/0 to 0/1/0/0",
                     first="2026-11-01T09:05:00Z")
NO_TIMES = event("PoolStatusChange", "from Creating to Running", first=None, last=False, count="many")


POOLS = [pool_doc(name, available={"f1": 1}) for name in ("pool-a", "pool-b", "pool-c", "pool-d")]
FIRST = {
    ("pool_events", R, P, "pool-a"): [page(FLAP, SCALE, "not an event", token="t1"), page(REORDERED, MILLIS, UNKNOWN)],
    ("pool_events", R, P, "pool-b"): [page(MISMATCH, WRONG_REASON, NO_TIMES, {"kind": "ResourceFlavor"})],
    ("pool_events", R, P, "pool-c"): [b'{"items": [ {"reason": ', page(FLAP)],  # a cut page, then a good one
    ("pool_events", R, P, "pool-d"): [{"items": {"not": "a list"}}, 503],
}


def _open(root):
    return duckdb.connect(str(root / "inventory.duckdb"), read_only=True)


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    """One snapshot: its rows as read."""
    root = tmp_path_factory.mktemp("events")
    publish_snapshot(root, AT, {(R, P): POOLS}, per_pool=FIRST)
    c = _open(root)
    yield c
    c.close()


@pytest.fixture(scope="module")
def con2(tmp_path_factory):
    """The same, then three hours later: pool-a's flap repeated (count 2, last_at moved), SCALE unchanged (asked
    again from the cursor's second), one new event; the other pools not asked this time."""
    root = tmp_path_factory.mktemp("events2")
    publish_snapshot(root, AT, {(R, P): POOLS}, per_pool=FIRST)
    flap_again = {**FLAP, "count": 2, "lastTimestamp": "2026-11-01T12:10:00Z"}
    new = event("PoolStatusChange", "from Abnormal to Running", first="2026-11-01T12:20:00Z")
    publish_snapshot(root, LATER, {(R, P): POOLS}, per_pool={("pool_events", R, P, "pool-a"): [page(SCALE, flap_again, new)]})
    c = _open(root)
    yield c
    c.close()


COLUMNS = ("pool_id, type, reason, message, count, first_at, last_at, from_status, to_status, from_available, "
           "from_abnormal, from_creating, from_deleting, to_available, to_abnormal, to_creating, to_deleting, "
           "changed_at")


def rows(con, where=""):
    out = con.execute(f"SELECT {COLUMNS} FROM pool_events {where} ORDER BY pool_id, first_at NULLS FIRST").fetchall()
    return [tuple(v.astimezone(timezone.utc) if isinstance(v, datetime) else v for v in r) for r in out]


def ts(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def test_the_schema_is_the_documented_one(con):
    got = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'pool_events'").fetchall()
    assert got == [("snapshot_id", "VARCHAR"), ("snapshot_at", "TIMESTAMP WITH TIME ZONE"), ("region", "VARCHAR"),
                   ("project_id", "VARCHAR"), ("pool_id", "VARCHAR"), ("type", "VARCHAR"), ("reason", "VARCHAR"),
                   ("message", "VARCHAR"), ("count", "INTEGER"), ("first_at", "TIMESTAMP WITH TIME ZONE"),
                   ("last_at", "TIMESTAMP WITH TIME ZONE"), ("from_status", "VARCHAR"), ("to_status", "VARCHAR"),
                   ("from_available", "INTEGER"), ("from_abnormal", "INTEGER"), ("from_creating", "INTEGER"),
                   ("from_deleting", "INTEGER"), ("to_available", "INTEGER"), ("to_abnormal", "INTEGER"),
                   ("to_creating", "INTEGER"), ("to_deleting", "INTEGER"), ("changed_at", "TIMESTAMP WITH TIME ZONE"),
                   ("snapshot_day", "DATE")]


def test_both_message_forms_are_parsed_and_others_kept_raw(con):
    got = {(r[0], r[3]): r for r in rows(con)}
    nothing = (None,) * 11
    assert got[("pool-a", FLAP["message"])] == (
        "pool-a", "Warning", "PoolStatusChange", FLAP["message"], 1, ts("2026-11-01T08:10:00Z"),
        ts("2026-11-01T08:10:00Z"), "Running", "Abnormal", *(None,) * 9)
    assert got[("pool-a", SCALE["message"])] == (
        "pool-a", "Warning", "PoolResourcesStatusChange", SCALE["message"], 2, ts("2026-11-01T08:20:00Z"),
        ts("2026-11-01T08:20:30Z"), None, None, 1, 0, 0, 0, 0, 1, 0, 0, ts("2022-12-30T02:16:19Z"))
    # counts follow the names the message lists; no timestamp: no changed_at
    assert got[("pool-a", REORDERED["message"])][9:] == (5, 0, 3, 0, 8, 0, 0, 0, None)
    # 13 digits: milliseconds
    assert got[("pool-a", MILLIS["message"])][9:17] == (8, 0, 0, 0, 8, 0, 0, 2)
    assert got[("pool-a", MILLIS["message"])][17] == datetime(2026, 11, 1, 8, 0, 0, 123000, tzinfo=timezone.utc)
    assert got[("pool-a", UNKNOWN["message"])][7:] == nothing
    assert got[("pool-a", UNKNOWN["message"])][:5] == ("pool-a", "Normal", "PoolNodeDrained", UNKNOWN["message"], 1)
    # as many numbers as names or nothing; a message of the other form under a reason is not read as it
    assert got[("pool-b", MISMATCH["message"])][7:] == nothing
    assert got[("pool-b", WRONG_REASON["message"])][7:] == nothing
    # no timestamps at all, a count that is no integer: NULLs, the message still parsed
    assert got[("pool-b", NO_TIMES["message"])][4:9] == (None, None, None, "Creating", "Running")


def test_unreadable_pages_and_items_are_skipped(con):
    per_pool = dict(con.execute("SELECT pool_id, count(*) FROM pool_events WHERE snapshot_id = '20261101T100000Z' "
                                "GROUP BY ALL").fetchall())
    # pool-a: 2 + 3 items ("not an event" skipped); pool-c: the cut page skipped, the good one read; pool-d: an
    # items object and an error: nothing
    assert per_pool == {"pool-a": 5, "pool-b": 3, "pool-c": 1}
    calls = con.execute("SELECT pool_id, outcome FROM fetches WHERE call = 'pool_events' ORDER BY call_id").fetchall()
    assert calls == [("pool-a", "ok"), ("pool-a", "ok"), ("pool-b", "ok"), ("pool-c", "ok"), ("pool-c", "ok"),
                     ("pool-d", "ok"), ("pool-d", "error")]  # every page landed, the unreadable ones too


def test_the_catalog_keeps_one_row_per_event_the_latest_observation(con2):
    con = con2
    a = rows(con, "WHERE pool_id = 'pool-a'")
    assert [(r[3], r[4], r[6]) for r in a] == [
        (FLAP["message"], 2, ts("2026-11-01T12:10:00Z")),        # repeated: the grown count and last_at
        (SCALE["message"], 2, ts("2026-11-01T08:20:30Z")),       # seen twice, unchanged: once
        (REORDERED["message"], 1, ts("2026-11-01T08:30:00Z")),   # only in the first snapshot: kept
        (MILLIS["message"], 1, ts("2026-11-01T08:40:00Z")),
        (UNKNOWN["message"], 1, ts("2026-11-01T08:50:00Z")),
        ("from Abnormal to Running", 1, ts("2026-11-01T12:20:00Z")),
    ]
    snaps = dict(con.execute("SELECT message, snapshot_id FROM pool_events WHERE pool_id = 'pool-a'").fetchall())
    assert snaps[FLAP["message"]] == snaps[SCALE["message"]] == "20261101T130000Z"
    assert snaps[REORDERED["message"]] == "20261101T100000Z"
    assert con.execute("SELECT count(*) FROM pool_events").fetchone()[0] == 6 + 3 + 1
    # the documented comment reaches the view
    comment = con.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'pool_events'").fetchone()[0]
    assert "deduplicated" in comment


def test_what_the_table_skipped_is_in_rejected_documents(con):
    got = con.execute("SELECT pool_id, item_index, reason, severity, excerpt FROM rejected_documents "
                      "WHERE source = 'pool_events' ORDER BY pool_id, item_index NULLS FIRST").fetchall()
    assert got == [
        ("pool-a", 2, "item is not an object", "error", '"not an event"'),
        ("pool-b", 3, "item has no reason or message", "error", '{"kind":"ResourceFlavor"}'),
        ("pool-c", None, "body is not valid JSON", "error", '{"items": [ {"reason": '),
        ("pool-d", None, "body's items is not an array", "error", '{"items": {"not": "a list"}}'),
    ]


def test_reject_reasons_on_every_shape():
    """sql/normalize/_reject_event_pages.sql over hand-made pages: an object without items (or items null) is an
    empty list, not a rejection."""
    from pipeline.sqlfiles import sql_text

    pages = [b'{"items": [ {"reason": ', b'[1, 2]', b'{"items": {"not": "a list"}}', b'{"kind": "EventList"}',
             b'{"items": null}', b'{"items": [{"reason": "x"}, "not an event", 7, {"kind": "ResourceFlavor"}, '
             b'{"message": "m"}, {"reason": 5, "message": null}]}']
    c = duckdb.connect()
    try:
        c.execute("CREATE TEMP TABLE event_pages (region VARCHAR, project_id VARCHAR, pool_id VARCHAR, "
                  "call VARCHAR, page BIGINT, content VARCHAR)")
        c.executemany("INSERT INTO event_pages VALUES ('r1', 'p1', 'pool-a', 'pool_events', ?, ?)",
                      [(i + 1, body.decode()) for i, body in enumerate(pages)])
        got = c.execute(sql_text("normalize", "_reject_event_pages") + " ORDER BY page, item_index").fetchall()
    finally:
        c.close()
    assert [(page, index, reason, item) for *_, page, index, reason, item in got] == [
        (1, None, "body is not valid JSON", None), (2, None, "body is not an object", None),
        (3, None, "body's items is not an array", None),
        (6, 1, "item is not an object", '"not an event"'), (6, 2, "item is not an object", "7"),
        (6, 3, "item has no reason or message", '{"kind":"ResourceFlavor"}'),
        (6, 5, "item has no reason or message", '{"reason":5,"message":null}')]
    assert {row[:4] for row in got} == {("r1", "p1", "pool-a", "pool_events")}
