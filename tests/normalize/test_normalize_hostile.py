"""Hypothesis: hostile pool documents never make normalize() raise, and every document is accounted for.

Each example lands one list_pools body of generated items (pool-shaped dicts whose every field may be missing,
null, of the wrong type, a number written as a string, huge, deeply nested or unicode; or not a dict at all),
sometimes a show_pool body and a body of random bytes. Expected outcome per item, computed here independently:
  - not a JSON object                                    -> rejected "item is not an object"
  - metadata.name not a string, or only ASCII blanks     -> rejected "pool has no metadata.name"
  - a count present but not an integer in 0..2^31-1      -> rejected "invalid count at <field>: ..." (the first bad
    field in the order spec.resources[].count, .maxCount, .azs[].count, then status.resources.<state>[] likewise
    for creating, available, abnormal, deleting)
  - name already seen in the same snapshot and project   -> rejected "duplicate pool id in snapshot"
  - else                                                 -> one row in `pools`
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.normalize.documents import TABLES, BodyRef, normalize

SID = "20261128T060000Z"
AT = datetime(2026, 11, 28, 6, tzinfo=timezone.utc)
BLANK = " \t\n\r\f\v"

# ------------------------------------------------------------------------------------------- strategies

def weighted(*choices):
    """One of several strategies, drawn with the given weights (st.one_of would weigh them equally)."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["3", "-1", "2.5", "abc", "", " 7 ", "1e3", "0x10", "true", "0", "1"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12,
)


# Deep nesting is drawn as a marker string and expanded to raw JSON text after json.dumps: Python's json module
# (and Hypothesis' example printer) recurse, and would hit the recursion limit long before DuckDB does.
DEEP = re.compile(r'"@@deep(\d+)@@"')
deep = st.integers(min_value=50, max_value=5000).map(lambda n: f"@@deep{n}@@")


def dumps(value) -> bytes:
    text = json.dumps(value, ensure_ascii=False)
    return DEEP.sub(lambda m: "[" * int(m.group(1)) + "{}" + "]" * int(m.group(1)), text).encode()


def is_deep(value) -> bool:
    return isinstance(value, str) and DEEP.fullmatch(json.dumps(value)) is not None


huge = st.sampled_from(["x" * 300_000, "界" * 100_000, "\U0001f680" * 50_000])
anything = weighted((16, json_values), (1, deep), (1, huge))


def maybe(strategy):
    """Usually the well-typed strategy, sometimes anything at all."""
    return weighted((3, strategy), (1, anything))


names = weighted(
    (6, st.from_regex(r"pool-[a-z0-9]{1,6}", fullmatch=True)),
    (3, st.sampled_from(["pool-dup", "auto-pool-os-86c13962597848eeb29c5861153a391f"])),
    (1, st.text(max_size=12)),
    (1, st.sampled_from(["", " ", "\t\n", "\u3000", "名前", "pool \"quoted\"; x"])),
    (1, st.integers()), (1, st.floats(allow_nan=False)), (1, st.none()), (1, st.booleans()),
    (1, st.lists(st.text(max_size=5), max_size=2)),
    (1, st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2)),
    (1, deep), (1, huge),
)
counts = st.one_of(st.integers(-5, 50), st.sampled_from(["3", "abc", "2.5", "-1"]), st.floats(0, 5), anything)
azs = st.lists(maybe(st.fixed_dictionaries({}, optional={"az": maybe(st.text(max_size=8)), "count": counts})),
               max_size=3)
flavor_counts = st.fixed_dictionaries(
    {}, optional={"flavor": maybe(st.sampled_from(["f.gpu", "f.cpu", "f.npu"])), "count": counts,
                  "maxCount": counts, "azs": maybe(azs), "nodePool": maybe(st.text(max_size=5))})
string_maps = st.dictionaries(
    st.one_of(st.sampled_from(["os.modelarts/name", "os.modelarts/workspace.id", "os.modelarts/billing.mode",
                               "os.modelarts/period.type", "os.modelarts/period.num", "os.modelarts/auto.renew"]),
              st.text(max_size=15)),
    st.one_of(st.text(max_size=15), st.sampled_from(["0", "1", "2", "3", "4", "true"]), json_values),
    max_size=6,
)
metadata_fields = {
    "creationTimestamp": maybe(st.sampled_from(
        ["2022-09-16T03:10:40Z", "2022-09-16T11:10:40+08:00", "yesterday", "2022-13-45", ""])),
    "labels": maybe(string_maps),
    "annotations": maybe(string_maps),
}
metadata = weighted(
    (6, st.fixed_dictionaries({"name": names}, optional=metadata_fields)),
    (1, st.fixed_dictionaries({}, optional=metadata_fields)),
    (1, anything),
)
spec = st.fixed_dictionaries({}, optional={
    "type": maybe(st.sampled_from(["Dedicate", "Logical"])),
    "scope": maybe(st.lists(maybe(st.sampled_from(["Train", "Infer", "Notebook"])), max_size=4)),
    "resources": maybe(st.lists(maybe(flavor_counts), max_size=3)),
    "network": maybe(st.fixed_dictionaries({"name": maybe(st.text(max_size=8))})),
    "containernetwork": maybe(st.fixed_dictionaries({"mode": maybe(st.sampled_from(["eni", "vpc-router"]))})),
    "containerNetwork": maybe(st.fixed_dictionaries({"mode": maybe(st.sampled_from(["eni", "overlay_l2"]))})),
    "jobFlavors": maybe(st.lists(maybe(st.text(max_size=10)), max_size=3)),
    "driver": maybe(st.fixed_dictionaries({}, optional={"gpuVersion": anything, "updateStrategy": anything})),
    "controlMode": counts,
})
state_value = maybe(st.one_of(st.lists(maybe(flavor_counts), max_size=3), flavor_counts))
status = st.fixed_dictionaries({}, optional={
    "phase": maybe(st.sampled_from(["Running", "Creating", "Abnormal"])),
    "message": anything,
    "parent": maybe(st.sampled_from(["", "pool-parent"])),
    "root": anything,
    "resources": maybe(st.fixed_dictionaries({}, optional={s: state_value for s in
                                                           ("creating", "available", "abnormal", "deleting")})),
    "scope": maybe(st.lists(maybe(st.fixed_dictionaries(
        {}, optional={"scopeType": maybe(st.sampled_from(["Train", "Infer"])), "state": anything})), max_size=3)),
    "driver": anything,
})
well_formed = st.fixed_dictionaries({"metadata": metadata}, optional={
    "kind": anything, "apiVersion": anything, "spec": maybe(spec), "status": maybe(status), "extra": anything})
pools = weighted((6, well_formed),
                 (1, st.fixed_dictionaries({}, optional={"metadata": anything, "spec": anything, "status": anything})))
items = st.lists(weighted((6, pools), (1, anything)), min_size=1, max_size=10)

# ------------------------------------------------------------------------------------------- expectations


def usable_name(item) -> str | None:
    if not isinstance(item, dict) or not isinstance(item.get("metadata"), dict):
        return None
    name = item["metadata"].get("name")
    if not isinstance(name, str) or is_deep(name) or name.strip(BLANK) == "":
        return None
    return name


BLANKS = "[ \t\n\f\r]*"  # RE2's \s (DuckDB): ASCII blanks without \v
WHOLE = re.compile(BLANKS + "[+-]?[0-9]{1,10}" + BLANKS)


def count_ok(value) -> bool:
    """A count that normalize accepts: absent/null, a JSON integer, or a string of one, in 0..2^31-1."""
    if value is None:
        return True
    if isinstance(value, bool) or isinstance(value, float) or not isinstance(value, (int, str)):
        return False  # true/false, 2.5 or 3.0 (JSON text with '.' or 'e'), objects, arrays
    if isinstance(value, str):
        if is_deep(value) or not WHOLE.fullmatch(value):
            return False
        value = int(value.strip(" \t\n\f\r"))
    return 0 <= value <= 2**31 - 1


def entries_bad(entries) -> str | None:
    """The first bad count field of a list of flavor entries (non-objects are skipped), as _macros.sql names it."""
    dicts = [e for e in entries if isinstance(e, dict)]
    if not all(count_ok(e.get("count")) for e in dicts):
        return "count"
    if not all(count_ok(e.get("maxCount")) for e in dicts):
        return "maxCount"
    for e in dicts:
        if isinstance(e.get("azs"), list) and not all(count_ok(z.get("count")) for z in e["azs"]
                                                       if isinstance(z, dict)):
            return "azs[].count"
    return None


def bad_count(item: dict) -> str | None:
    spec, status = item.get("spec"), item.get("status")
    if isinstance(spec, dict) and isinstance(spec.get("resources"), list):
        bad = entries_bad(spec["resources"])
        if bad:
            return f"spec.resources[].{bad}"
    resources = status.get("resources") if isinstance(status, dict) else None
    if isinstance(resources, dict):
        for state in ("creating", "available", "abnormal", "deleting"):
            value = resources.get(state)
            entries = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
            bad = entries_bad(entries)
            if bad:
                return f"status.resources.{state}[].{bad}"
    annotations = item["metadata"].get("annotations")
    if isinstance(annotations, dict) and not count_ok(annotations.get("os.modelarts.pool/subpools.count")):
        return 'metadata.annotations."os.modelarts.pool/subpools.count"'
    return None


def expected_outcome(items: list, show: object | None) -> tuple[set[str], dict[tuple[str, int | None], str]]:
    """(pool ids in `pools`, {(response_id, item_index): reason} in rejected_documents)."""
    kept: set[str] = set()
    rejected: dict[tuple[str, int | None], str] = {}
    docs = [("resp-list", i, item) for i, item in enumerate(items)]
    if show is not None:
        docs.append(("resp-show", None, show))
    for response_id, index, item in docs:
        name = usable_name(item)
        if not isinstance(item, dict):  # a deep marker string is an array once landed: not an object either
            rejected[(response_id, index)] = ("item is not an object" if index is not None
                                              else "body is not a JSON object")
        elif name is None:
            rejected[(response_id, index)] = "pool has no metadata.name"
        elif bad_count(item):
            rejected[(response_id, index)] = f"invalid count at {bad_count(item)}: not an integer in 0..2147483647"
        elif name in kept:
            rejected[(response_id, index)] = "duplicate pool id in snapshot"
        else:
            kept.add(name)
    return kept, rejected


def read(out: Path, sql: str) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.execute(sql.replace("{out}", str(out))).fetchall()
    finally:
        con.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                 HealthCheck.function_scoped_fixture])
@given(items=items, show=st.one_of(st.none(), pools, anything), noise=st.one_of(st.none(), st.binary(max_size=64)))
def test_hostile_documents_never_raise_and_are_all_accounted_for(tmp_path_factory, items, show, noise):
    tmp = tmp_path_factory.mktemp("hostile")
    raw = tmp / "raw"
    raw.mkdir()
    bodies = []

    def land(name: str, data: bytes, source: str, response_id: str) -> None:
        (raw / name).write_bytes(data)
        bodies.append(BodyRef(SID, AT, "cn-north-4", "p1", source, str(raw / name), response_id))

    land("list.json", dumps({"apiVersion": "v2", "kind": "PoolList", "items": items}), "list_pools", "resp-list")
    if show is not None:
        land("show.json", dumps(show), "show_pool", "resp-show")
    if noise is not None:
        land("noise.bin", noise, "list_pools", "resp-noise")

    counts = normalize(bodies, tmp / "out")  # must not raise

    assert set(counts) == set(TABLES)
    for table in TABLES:
        n = read(tmp / "out", f"SELECT count(*) FROM read_parquet('{{out}}/{table}.parquet')")[0][0]
        assert n == counts[table], table
    kept, rejected = expected_outcome(items, show)
    got_pools = read(tmp / "out", "SELECT pool_id FROM read_parquet('{out}/pools.parquet')")
    assert sorted(r[0] for r in got_pools) == sorted(kept)
    got_rej = read(tmp / "out", "SELECT response_id, item_index, reason FROM "
                                "read_parquet('{out}/rejected_documents.parquet')")
    noise_rows = [r for r in got_rej if r[0] == "resp-noise"]
    assert {(r[0], r[1]): r[2] for r in got_rej if r[0] != "resp-noise"} == rejected
    assert len([r for r in got_rej if r[0] != "resp-noise"]) == len(rejected)
    if noise is not None:
        # random bytes: rejected as a whole, or (rarely) valid JSON handled like any list body
        assert all(r[1] is None or r[2] for r in noise_rows)
    # child rows only ever belong to kept pools
    for table in TABLES:
        if table in ("pools", "rejected_documents"):
            continue
        orphans = read(tmp / "out", f"SELECT count(*) FROM read_parquet('{{out}}/{table}.parquet') "
                                    f"WHERE pool_id NOT IN (SELECT pool_id FROM read_parquet('{{out}}/pools.parquet'))")
        assert orphans[0][0] == 0, table
