"""Text that looks like SQL, quoting or formulas goes through a real snapshot (landing, normalize, commit, catalog,
history, reports, exports) byte for byte: no SQL is ever spliced from data. The storage root's own path has
quotes, a semicolon, `--`, `%`, `*` in it too (it is spliced into SQL as a quoted literal; a backslash or `?` is
refused by the config, DuckDB reads them as a separator and as options in a file path; so are `[`, `]` and a
`%XX` escape, which delta-rs reads as a URL's host name and as an escape: tests/test_config.py).
"""

import csv
import json
import subprocess
from pathlib import Path

import openpyxl

from lakekit import pool_doc, publish_snapshot, query_catalog, utc
from test_cli import POOLSCOPE, cli_env

from pipeline.reports.levels import NAMES as LEVEL_NAMES

HOSTILE = [
    "o'brien",
    'say "hi"',
    "a;b",
    "x -- y",
    "back\\slash\\'",
    "100%_like",
    "名前 ünïcødé 🚀",
    "line1\nline2",
    "'); DROP TABLE pools; --",
    '"; DELETE FROM fetches; --',
    "tab\there",
    "$1 ? :name {x}",
]
PROJECT = "p'1;--"  # an id from IAM discovery is not validated like a configured one
DIR_NAME = "it's; -- 50% *\"lake\""


def _pool(i: int, value: str, **extra) -> dict:
    doc = pool_doc(f"pool-{i}-{value}", display_name=value, workspace_id=value, available={"f1": 1},
                   billing_mode="1", period_type="2", period_num="1", auto_renew="0", order_id=value,
                   labels={value: value}, annotations={"note": value, "os.modelarts/description": value}, **extra)
    return doc


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_hostile_strings_round_trip_to_catalog_and_exports(tmp_path):
    base = tmp_path / DIR_NAME
    root = base / "data"
    first = {("cn-north-4", PROJECT): [_pool(i, v) for i, v in enumerate(HOSTILE)]}
    publish_snapshot(root, utc(2026, 11, 1, 0), first)
    # An hour later each pool's display name changes: pool_changes then holds before/after with the text.
    second = {("cn-north-4", PROJECT): [
        {**d, "metadata": {**d["metadata"], "labels": {**d["metadata"]["labels"], "os.modelarts/name": v + "|2"}}}
        for d, v in zip(first[("cn-north-4", PROJECT)], HOSTILE)]}
    publish_snapshot(root, utc(2026, 11, 1, 1), second)

    db = root / "inventory.duckdb"
    pools = query_catalog(db, "SELECT pool_id, display_name, workspace_id, description, order_id, project_id "
                              "FROM pools WHERE snapshot_id = '20261101T000000Z' ORDER BY pool_id")
    expected = sorted([f"pool-{i}-{v}", v, v, v, v, PROJECT] for i, v in enumerate(HOSTILE))
    assert pools == expected
    labels = query_catalog(db, "SELECT key, value FROM pool_labels WHERE snapshot_id = '20261101T000000Z' "
                               "AND key NOT LIKE 'os.modelarts/%'")
    assert sorted(map(tuple, labels)) == sorted((v, v) for v in HOSTILE)
    notes = query_catalog(db, "SELECT value FROM pool_annotations WHERE key = 'note' "
                              "AND snapshot_id = '20261101T000000Z'")
    assert sorted(r[0] for r in notes) == sorted(HOSTILE)
    # Nothing was dropped or deleted by text that looks like SQL.
    assert query_catalog(db, "SELECT count(*) FROM pools") == [[2 * len(HOSTILE)]]
    assert query_catalog(db, "SELECT count(*) FROM fetches") == [[2]]

    (base / "poolscope.yaml").write_text(
        "storage: {root: ./data}\ntargets: [{region: cn-north-4, project_id: p1}]\n", encoding="utf-8")
    # The export folder holds links named like every export file, pointing outside it: they are replaced,
    # never written through. `--out` with `..` in it lands where the path says and nowhere else.
    out = base / "exports"
    out.mkdir()
    outside = base / "outside.txt"
    outside.write_text("keep me")
    names = ["poolscope-reports.xlsx", "poolscope-reports.html", "pool_changes.csv", "subscriptions.csv",
             *(f"{n}.csv" for n in LEVEL_NAMES), "billing_modes.csv", "idle_capacity.csv", "pressure.csv",
             "coverage.csv"]
    for name in names:
        (out / name).symlink_to(outside)
    before = sorted(p.name for p in base.iterdir())
    proc = subprocess.run([*POOLSCOPE, "report", "--config", "poolscope.yaml", "--out", "data/../exports"],
                          cwd=base, env=cli_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert outside.read_text() == "keep me" and sorted(p.name for p in base.iterdir()) == before
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    assert not any((out / name).is_symlink() for name in names)

    changes = [r for r in _read_csv(out / "pool_changes.csv") if r["change_type"] == "updated"]
    assert sorted(r["pool_id"] for r in changes) == sorted(f"pool-{i}-{v}" for i, v in enumerate(HOSTILE))
    for r in changes:
        before, after = json.loads(r["before"]), json.loads(r["after"])
        value = r["pool_id"].split("-", 2)[2]
        assert value in before.values() and value + "|2" in after.values(), (before, after)
    subs = _read_csv(out / "subscriptions.csv")
    assert sorted((r["project_id"], r["order_id"], r["display_name"]) for r in subs) == sorted(
        (PROJECT, v, v + "|2") for v in HOSTILE)
    capacity = {r["pool_id"]: r["display_name"] for r in _read_csv(out / "capacity_by_flavor.csv")}
    assert capacity == {f"pool-{i}-{v}": v + "|2" for i, v in enumerate(HOSTILE)}

    wb = openpyxl.load_workbook(out / "poolscope-reports.xlsx", read_only=True)
    sheet = next(ws for ws in wb.worksheets if ws.title.startswith("subscriptions"))
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    got = sorted((r[header.index("order_id")], r[header.index("display_name")]) for r in rows[1:] if any(r))
    assert got == sorted((v, v + "|2") for v in HOSTILE)
    wb.close()
