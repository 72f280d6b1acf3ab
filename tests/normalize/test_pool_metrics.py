"""pool_metrics from hand-made ShowPoolMonitor answers: both shapes of `metric`, numbers and numeric strings, -1,
bodies and items that cannot be read; and the catalog's one row per point across overlapping snapshots."""

import json

import duckdb
import pytest

from lakekit import pool_doc, publish_snapshot, utc

AT = utc(2026, 11, 1, 10)
T0 = 1793491200000  # 2026-11-01T00:00:00Z in epoch ms
H = 3_600_000
DIMS = [{"name": "clusterId", "value": "c0ffee00-0000-4000-8000-000000000001"}]


def q(statistic: str, period: int | None = 3600) -> str:
    """The query string as the client sends it (canonical: sorted)."""
    parts = ([f"period={period}"] if period else []) + [f"statistics={statistic}",
                                                      f"time_range={T0}.{T0 + 3 * H}.180"]
    return "&".join(parts)


def point(t: int, statistic: str, value, unit="Percent") -> dict:
    return {"timestamp": t, "unit": unit, "statistics": [{"statistic": statistic, "value": value}]}


# pool-a, average: metric as one object (SDK, example), a -1, a numeric string, a timestamp as a string
AVERAGE_A = {"metrics": [
    {"metric": {"metricName": "gpuUtil", "namespace": "PAAS.AGGR", "dimensions": DIMS},
     "dataPoints": [point(T0, "average", 37.5), point(T0 + H, "average", -1), point(str(T0 + 2 * H), "average", "12.25")]},
    # metric as an array (one table of the docs): its first object is read; the cluster id dimension among others
    {"metric": [{"metricName": "cpuUsage", "namespace": "PAAS.AGGR",
                 "dimensions": [{"name": "other", "value": "x"}, {"name": "clusterId", "value": "cce-1"}]}],
     "dataPoints": [point(T0, "average", 0), point(T0 + H, "average", "-1")]},
    # series that cannot be read: no name, no dataPoints array, not an object
    {"metric": {"namespace": "PAAS.AGGR"}, "dataPoints": [point(T0, "average", 1)]},
    {"metric": {"metricName": "memUsedRate"}, "dataPoints": "none"},
    "not a series",
]}
# pool-a, maximum: points that cannot be read are skipped, their neighbours kept (1e400: no finite number)
MAXIMUM_A = json.dumps({"metrics": [
    {"metric": {"metricName": "gpuUtil", "namespace": "PAAS.AGGR", "dimensions": DIMS},
     "dataPoints": [point(T0, "maximum", 80), point(T0 + H, "maximum", "lots"), point("yesterday", "maximum", 5),
                    point(T0 + 2 * H, "maximum", {"v": 1}), "not a point", point(T0 + 2 * H, "maximum", "__BIG__"),
                    {"timestamp": T0 + 2 * H, "unit": "Megabytes", "statistics": [{"value": 64}]}]},
]}).replace('"__BIG__"', "1e400").encode()


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    root = tmp_path_factory.mktemp("monitor")
    listing = {("r1", "p1"): [pool_doc("pool-a", available={"f1": 1}), pool_doc("pool-b", available={"f1": 1}),
                              pool_doc("pool-c", available={"f1": 1})]}
    publish_snapshot(root, AT, listing, monitor={
        ("r1", "p1", "pool-a"): [(q("average"), AVERAGE_A), (q("maximum"), MAXIMUM_A)],
        # garbage: not JSON, no metrics array, a failed call, an answer cut short
        ("r1", "p1", "pool-b"): [(q("average"), b"<html>gateway</html>"), (q("maximum"), {"metrics": {}})],
        ("r1", "p1", "pool-c"): [(q("average"), 503), (q("maximum", period=None),
                                                        b'{"metrics": [{"metric": {"metricName": "cpuUsage"}, "da')],
    })
    c = duckdb.connect(str(root / "inventory.duckdb"), read_only=True)
    yield c
    c.close()


def test_rows_from_both_shapes_with_no_data_flagged(con):
    rows = con.execute('SELECT pool_id, metric, statistic, epoch_ms(measured_at), value, no_data, unit, namespace, '
                       "cluster_id, period_s FROM pool_metrics ORDER BY metric, statistic, 4").fetchall()
    cluster = DIMS[0]["value"]
    assert rows == [
        ("pool-a", "cpuUsage", "average", T0, 0.0, False, "Percent", "PAAS.AGGR", "cce-1", 3600),
        ("pool-a", "cpuUsage", "average", T0 + H, None, True, "Percent", "PAAS.AGGR", "cce-1", 3600),  # "-1"
        ("pool-a", "gpuUtil", "average", T0, 37.5, False, "Percent", "PAAS.AGGR", cluster, 3600),
        ("pool-a", "gpuUtil", "average", T0 + H, None, True, "Percent", "PAAS.AGGR", cluster, 3600),   # -1
        ("pool-a", "gpuUtil", "average", T0 + 2 * H, 12.25, False, "Percent", "PAAS.AGGR", cluster, 3600),
        ("pool-a", "gpuUtil", "maximum", T0, 80.0, False, "Percent", "PAAS.AGGR", cluster, 3600),
        # no statistic in the item: the one asked for; the unit as given
        ("pool-a", "gpuUtil", "maximum", T0 + 2 * H, 64.0, False, "Megabytes", "PAAS.AGGR", cluster, 3600),
    ]


def test_columns_and_types_as_documented(con):
    types = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'pool_metrics'"
                             ).fetchall())
    assert types == {"snapshot_id": "VARCHAR", "snapshot_at": "TIMESTAMP WITH TIME ZONE", "region": "VARCHAR",
                     "project_id": "VARCHAR", "pool_id": "VARCHAR", "metric": "VARCHAR", "statistic": "VARCHAR",
                     "measured_at": "TIMESTAMP WITH TIME ZONE", "value": "DOUBLE", "no_data": "BOOLEAN", "unit": "VARCHAR",
                     "namespace": "VARCHAR", "cluster_id": "VARCHAR", "period_s": "INTEGER",
                     "snapshot_day": "DATE"}
    assert con.execute("SELECT count(*) FROM duckdb_columns() WHERE table_name = 'pool_metrics' "
                       "AND comment IS NULL").fetchone() == (0,)
    assert str(con.execute('SELECT min(measured_at) FROM pool_metrics').fetchone()[0]).startswith("2026-11-01 00:00:00")


def test_unreadable_bodies_cost_their_rows_only(con):
    # pool-b's answers (HTML, metrics not an array) and pool-c's (a 503, a cut body) give no rows; they are in
    # fetches (ok or error) with their bytes in the raw landing
    assert con.execute("SELECT DISTINCT pool_id FROM pool_metrics").fetchall() == [("pool-a",)]
    assert con.execute("SELECT pool_id, outcome, count(*) FROM fetches WHERE call = 'pool_monitor' "
                       "GROUP BY ALL ORDER BY 1, 2").fetchall() == [
        ("pool-a", "ok", 2), ("pool-b", "ok", 2), ("pool-c", "error", 1), ("pool-c", "ok", 1)]


def test_the_period_is_the_one_asked_for_and_60_by_default(tmp_path):
    body = {"metrics": [{"metric": {"metricName": "cpuUsage"}, "dataPoints": [point(T0, "average", 5)]}]}
    publish_snapshot(tmp_path, AT, {("r1", "p1"): [pool_doc("pool-a", available={"f1": 1}),
                                                   pool_doc("pool-b", available={"f1": 1})]},
                     monitor={("r1", "p1", "pool-a"): [(q("average", period=300), body)],
                              ("r1", "p1", "pool-b"): [(q("average", period=None), body)]})
    c = duckdb.connect(str(tmp_path / "inventory.duckdb"), read_only=True)
    try:
        assert c.execute("SELECT pool_id, period_s, namespace, cluster_id FROM pool_metrics ORDER BY 1").fetchall() == [
            ("pool-a", 300, None, None), ("pool-b", 60, None, None)]
    finally:
        c.close()


def test_overlapping_snapshots_keep_one_row_per_point_the_latest(tmp_path):
    """Two snapshots an hour apart whose windows share an hour: the catalog holds that hour once, with the later
    snapshot's value (it may have been partly aggregated the first time); each snapshot's own rows stay in its
    Parquet."""
    listing = {("r1", "p1"): [pool_doc("pool-a", available={"f1": 1})]}

    def answer(values: dict[int, float]) -> dict:
        return {"metrics": [{"metric": {"metricName": "npuUtil", "namespace": "PAAS.AGGR", "dimensions": DIMS},
                             "dataPoints": [point(t, "average", v) for t, v in values.items()]}]}
    publish_snapshot(tmp_path, AT, listing,
                     monitor={("r1", "p1", "pool-a"): [(q("average"), answer({T0: 10, T0 + H: 20}))]})
    publish_snapshot(tmp_path, utc(2026, 11, 1, 11), listing,
                     monitor={("r1", "p1", "pool-a"): [(q("average"), answer({T0 + H: 25, T0 + 2 * H: -1}))]})
    c = duckdb.connect(str(tmp_path / "inventory.duckdb"), read_only=True)
    try:
        rows = c.execute('SELECT epoch_ms(measured_at), value, no_data, snapshot_id FROM pool_metrics ORDER BY 1').fetchall()
        assert rows == [(T0, 10.0, False, "20261101T100000Z"), (T0 + H, 25.0, False, "20261101T110000Z"),
                        (T0 + 2 * H, None, True, "20261101T110000Z")]
        files = [str(f) for f in (tmp_path / "lake" / "pool_metrics").rglob("*.parquet")]
        assert len(files) == 2
        assert c.execute("SELECT count(*) FROM read_parquet($f)", {"f": files}).fetchone() == (4,)
    finally:
        c.close()


def test_what_the_table_skips_is_named_for_rejected_documents():
    """sql/normalize/_reject_monitor_pages.sql (for the rejected_documents path): one row per body, series, point or
    statistic pool_metrics.sql could not read, with its place."""
    from pipeline.sqlfiles import sql_text

    con = duckdb.connect(":memory:")
    try:
        con.execute("CREATE TEMP TABLE monitor_pages (region VARCHAR, project_id VARCHAR, pool_id VARCHAR, "
                    "call VARCHAR, page BIGINT, content VARCHAR, query VARCHAR)")
        pages = [("pool-a", 1, json.dumps(AVERAGE_A), q("average")), ("pool-a", 2, MAXIMUM_A.decode(), q("maximum")),
                 ("pool-b", 3, "<html>gateway</html>", q("average")), ("pool-b", 4, '{"metrics": {}}', q("maximum")),
                 ("pool-c", 5, json.dumps({"metrics": [{"metric": {"metricName": "cpuUsage"},
                                                        "dataPoints": [{"timestamp": T0, "statistics": [{"value": 3}]}]}]}),
                  "period=3600")]
        con.executemany("INSERT INTO monitor_pages VALUES ('r1', 'p1', ?, 'pool_monitor', ?, ?, ?)", pages)
        con.execute(sql_text("normalize", "_prepare_monitor_pages"))  # as pipeline/normalize/step.py runs it
        rows = con.execute(sql_text("normalize", "_reject_monitor_pages")).fetchall()
        kept = con.execute("SELECT count(*) FROM (" + sql_text("normalize", "pool_metrics") + ")",
                           {"snapshot_id": "s", "snapshot_at": AT}).fetchone()[0]
    finally:
        con.close()
    assert [(r[2], r[4], r[5]) for r in rows] == [
        ("pool-a", 1, "metrics[2]: no metricName"),
        ("pool-a", 1, "metrics[3]: no dataPoints array"),
        ("pool-a", 1, "metrics[4]: not an object"),
        ("pool-a", 2, "metrics[0].dataPoints[1].statistics[0]: value is not a number"),    # "lots"
        ("pool-a", 2, "metrics[0].dataPoints[2]: timestamp is not epoch milliseconds"),    # "yesterday"
        ("pool-a", 2, "metrics[0].dataPoints[3].statistics[0]: value is not a number"),    # {"v": 1}
        ("pool-a", 2, "metrics[0].dataPoints[4]: not an object"),
        ("pool-a", 2, "metrics[0].dataPoints[5].statistics[0]: value is not a number"),    # 1e400
        ("pool-b", 3, "body is not JSON"),
        ("pool-b", 4, "no metrics array in the body"),
        ("pool-c", 5, "metrics[0].dataPoints[0].statistics[0]: no statistic named"),      # and none asked for
    ]
    assert kept == 7  # the rows of test_rows_from_both_shapes_with_no_data_flagged: nothing read is rejected
