"""A plain-Python reference flattening of pool documents into normalize's tables, and the benchmark baseline
built on it.

Written independently of the SQL in sql/normalize/, straight from the table definitions. Two users:
- tests/normalize/test_normalize_scale.py cross-checks normalize() against `reference()` row by row (no timing);
- benchmarks/bench_normalize.py times `python_pandas()`, the same work as a plain Python loop: read and parse
  every body file, flatten, write every table with pandas (the "Python loop + pandas" baseline).

Rows are tuples in the table's column order without `snapshot_at` (constant per snapshot, and compared
separately); `COLUMNS` names them. This module imports nothing outside the standard library at import time:
pandas (a runtime dependency of poolscope) is imported by `python_pandas()` only.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from pipeline.normalize.documents import TABLES, BodyRef

STATES = ("creating", "available", "abnormal", "deleting")
INT = re.compile(r"[ \t\n\r\f]*[+-]?[0-9]{1,12}[ \t\n\r\f]*")

_CTX = ("snapshot_id", "region", "project_id", "pool_id")
# Column names of every table, in order, without snapshot_at (which follows snapshot_id in the files).
COLUMNS: dict[str, tuple[str, ...]] = {
    "pools": (*_CTX, "display_name", "workspace_id", "workspace_id_assumed", "resource_id", "pool_type", "phase", "message", "parent",
              "root", "is_physical", "created_at", "description", "billing_mode", "period_type", "period_num",
              "auto_renew", "order_id", "subpools_count", "control_mode", "cm_to_yearly_monthly_restricted",
              "cm_flavor_change_restricted", "cm_service_restricted", "cm_frozen", "cm_police_frozen",
              "network_name", "container_network_mode", "gpu_driver_version", "npu_driver_version",
              "driver_update_strategy", "gpu_driver_state", "npu_driver_state", "source", "response_id"),
    "pool_labels": (*_CTX, "key", "value"),
    "pool_annotations": (*_CTX, "key", "value"),
    "pool_scopes": (*_CTX, "scope_type", "requested", "state", "dependency_raw", "dependency_readable",
                    "dependency_type", "dependency_status", "dependency_message", "network_access_type",
                    "network_access_status", "network_access_message"),
    "pool_resources": (*_CTX, "flavor", "count", "max_count"),
    "pool_resource_azs": (*_CTX, "flavor", "az", "count"),
    "pool_capacity": (*_CTX, "state", "flavor", "count", "max_count", "node_pool"),
    "pool_capacity_azs": (*_CTX, "state", "flavor", "az", "count", "node_pool"),
    "pool_job_flavors": (*_CTX, "job_flavor"),
    "pool_flavor_resources": (*_CTX, "flavor", "resource_id"),
    # excerpt is not compared: it is the document's text as sent, which only the raw bytes know.
    "rejected_documents": ("snapshot_id", "region", "project_id", "response_id", "source", "item_index",
                           "pool_id", "reason", "severity", "documents", "kept_response_id", "kept_item_index"),
}
assert sorted(COLUMNS) == sorted(TABLES)
_INTS = {"period_num", "subpools_count", "control_mode", "count", "max_count", "item_index", "kept_item_index",
         "documents"}
COUNT = re.compile(r"[ \t\n\r\f]*[+-]?[0-9]{1,10}[ \t\n\r\f]*")
REJECTED_CAP = 100  # rows listed one by one per body and reason
_BOOLS = ({"is_physical", "auto_renew", "requested", "workspace_id_assumed", "dependency_readable"}
          | {c for c in COLUMNS["pools"] if c.startswith("cm_")})
DEPENDENCY = "os.modelarts.pool/scope.external.dependency."  # + <Scope>: JSON text
RESOURCE_IDS = "os.modelarts/flavor.resource.ids"  # JSON text {flavor: resource id}
NOT_JSON_OBJECT = "annotation is not a JSON object (kept raw)"


def json_object(v) -> dict | None:
    """The JSON object a text holds, or None (not text, not JSON, not an object)."""
    if not isinstance(v, str):
        return None
    try:
        d = json.loads(v)
    except ValueError:
        return None
    return d if isinstance(d, dict) else None


def json_annotations(annotations) -> list[tuple[str, str | None]]:
    """(key, value as text) of the annotations that hold JSON text: the scope dependencies and the resource ids."""
    if not isinstance(annotations, dict):
        return []
    return [(k, text(v)) for k, v in annotations.items()
            if k == RESOURCE_IDS or (k.startswith(DEPENDENCY) and len(k) > len(DEPENDENCY))]


def text(v):
    """A JSON value read into a text column: strings as is, other values as compact JSON text."""
    if v is None or isinstance(v, str):
        return v
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def integer(v):
    if isinstance(v, bool) or v is None or isinstance(v, (float, dict, list)):
        return None
    if isinstance(v, str):
        if not INT.fullmatch(v):
            return None
        v = int(v)
    return v if -(2**31) <= v < 2**31 else None


def count_ok(v) -> bool:
    """A count may be absent (or null), or an integer in 0..2^31-1, as a JSON number or a string of digits."""
    if v is None:
        return True
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        return False  # true, 2.5, 3.0, NaN, Infinity, 1e99999, {}, []
    if isinstance(v, str):
        if not COUNT.fullmatch(v):
            return False
        v = int(v)
    return 0 <= v < 2**31


def count(v) -> int:
    """The count of a document whose counts passed count_ok: 0 when absent."""
    return 0 if v is None else int(v)


def bad_count(doc: dict) -> str | None:
    """The first count field that fails count_ok, named as rejected_documents names it; None when all pass."""
    meta, spec, status = obj(doc.get("metadata")), obj(doc.get("spec")), obj(doc.get("status"))

    def first_bad(entries: list) -> str | None:
        entries = [obj(e) for e in entries]
        for field in ("count", "maxCount"):
            if not all(count_ok(e.get(field)) for e in entries):
                return field
        if not all(count_ok(obj(z).get("count")) for e in entries for z in arr(e.get("azs"))):
            return "azs[].count"
        return None

    groups = [("spec.resources[]", arr(spec.get("resources")))]
    res = obj(status.get("resources"))
    for state in STATES:
        v = res.get(state)
        groups.append((f"status.resources.{state}[]", v if isinstance(v, list) else [v] if isinstance(v, dict)
                       else []))
    for where, entries in groups:
        field = first_bad(entries)
        if field:
            return f"{where}.{field}"
    if not count_ok(obj(meta.get("annotations")).get("os.modelarts.pool/subpools.count")):
        return 'metadata.annotations."os.modelarts.pool/subpools.count"'
    return None


def obj(v) -> dict:
    return v if isinstance(v, dict) else {}


def arr(v) -> list:
    return v if isinstance(v, list) else []


def timestamp(v):
    if not isinstance(v, str):
        return None
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        return None


def reference(bodies: list[tuple[BodyRef, object]]) -> dict[str, Counter]:
    """Rows of every table (rejected_documents included, without its excerpt) as Counters of tuples."""
    out = {t: Counter() for t in TABLES}
    errors: list[tuple] = []  # rejected_documents rows before the per-body cap
    seen: dict[tuple[str, str, str], tuple[str, int | None]] = {}
    for ref, body in bodies:
        docs = [(i, d) for i, d in enumerate(body["items"])] if ref.source == "list_pools" else [(None, body)]
        for index, doc in docs:
            name = obj(obj(doc).get("metadata")).get("name")
            where = (ref.snapshot_id, ref.region, ref.project_id, ref.response_id, ref.source, index)
            if not isinstance(name, str) or not name.strip(" \t\n\r\f\v"):
                errors.append((*where, None, "pool has no metadata.name", None, None, "error"))
                continue
            field = bad_count(doc)
            if field:  # rejected before duplicates are looked for: a later document of that name is kept
                errors.append((*where, name, f"invalid count at {field}: not an integer in 0..2147483647", None,
                               None, "error"))
                continue
            key = (ref.snapshot_id, ref.project_id, name)
            if key in seen:
                errors.append((*where, name, "duplicate pool id in snapshot", *seen[key], "error"))
                continue
            seen[key] = (ref.response_id, index)
            flatten(ref, name, doc, out)
            for k, v in json_annotations(obj(doc.get("metadata")).get("annotations")):
                if v is not None and json_object(v) is None:
                    errors.append((*where, name, NOT_JSON_OBJECT, None, None, "warning"))
    listed: Counter = Counter()  # (response_id, reason) -> rows listed one by one
    more: Counter = Counter()
    for row in sorted(errors, key=lambda r: (r[3], r[7], -1 if r[5] is None else r[5])):
        group = (*row[:5], row[7], row[10])
        if listed[group] < REJECTED_CAP:
            listed[group] += 1
            out["rejected_documents"][(*row[:8], row[10], 1, *row[8:10])] += 1
        else:
            more[group] += 1
    for (*where, reason, severity), n in more.items():
        out["rejected_documents"][(*where, None, None, reason, severity, n, None, None)] += 1
    return out


def flatten(ref: BodyRef, pid: str, doc: dict, out: dict[str, Counter]) -> None:
    meta, spec, status = obj(doc.get("metadata")), obj(doc.get("spec")), obj(doc.get("status"))
    labels, annotations = meta.get("labels"), meta.get("annotations")
    lab, ann = obj(labels), obj(annotations)
    cm = integer(spec.get("controlMode"))
    flags = [None] * 5 if cm is None or cm < 0 else [bool(cm & b) for b in (1, 2, 4, 8, 16)]
    parent = text(status.get("parent")) or None
    period = text(ann.get("os.modelarts/period.type"))
    cn = obj(spec.get("containerNetwork")).get("mode")
    if cn is None:
        cn = obj(spec.get("containernetwork")).get("mode")
    ctx = (ref.snapshot_id, ref.region, ref.project_id, pid)
    workspace = text(lab.get("os.modelarts/workspace.id"))
    out["pools"][(
        *ctx, text(lab.get("os.modelarts/name")), "0" if workspace is None else workspace, workspace is None,
        text(lab.get("os.modelarts/resource.id")), text(spec.get("type")), text(status.get("phase")),
        text(status.get("message")), parent, text(status.get("root")) or None,
        parent is None and text(spec.get("type")) != "Logical",
        timestamp(meta.get("creationTimestamp")), text(ann.get("os.modelarts/description")),
        {"0": "pay_per_use", "1": "yearly_monthly"}.get(text(ann.get("os.modelarts/billing.mode")), "unknown"),
        None if period is None else {"2": "month", "3": "year", "4": "hour"}.get(period, "unknown"),
        integer(ann.get("os.modelarts/period.num")),
        {"1": True, "true": True, "0": False, "false": False}.get(str(ann.get("os.modelarts/auto.renew")).lower()),
        text(ann.get("os.modelarts/order.id")), count(ann.get("os.modelarts.pool/subpools.count")), cm, *flags,
        text(obj(spec.get("network")).get("name")), text(cn),
        text(obj(spec.get("driver")).get("gpuVersion")), text(obj(spec.get("driver")).get("npuVersion")),
        text(obj(spec.get("driver")).get("updateStrategy")),
        text(obj(obj(status.get("driver")).get("gpu")).get("state")),
        text(obj(obj(status.get("driver")).get("npu")).get("state")),
        ref.source, ref.response_id,
    )] += 1
    for table, m in (("pool_labels", labels), ("pool_annotations", annotations)):
        if isinstance(m, dict):
            for k, v in m.items():
                out[table][(*ctx, k, text(v))] += 1
    requested = [s for s in arr(spec.get("scope")) if s not in (None, "")]
    states: dict[str, object] = {}
    for s in arr(status.get("scope")):
        st = obj(s).get("scopeType")
        if st not in (None, "") and st not in states:
            states[st] = text(obj(s).get("state"))
    deps = [(k[len(DEPENDENCY):], v) for k, v in json_annotations(annotations) if k != RESOURCE_IDS]
    listed = set(map(text, requested)) | set(states)
    lower = {s.lower() for s in listed}
    for st in listed | {d for d, _ in deps if d.lower() not in lower}:
        dep = next((v for d, v in deps if d == st), None)
        if dep is None:
            dep = next((v for d, v in deps if d.lower() == st.lower()), None)
        parsed = json_object(dep)
        access = obj((parsed or {}).get("network_access"))
        fields = ((parsed.get("type"), parsed.get("status"), parsed.get("message"), access.get("type"),
                   access.get("status"), access.get("message")) if parsed is not None else (None,) * 6)
        out["pool_scopes"][(*ctx, st, st in map(text, requested), states.get(st), dep,
                            None if dep is None else parsed is not None, *map(text, fields))] += 1
    ids = json_object(text(ann.get(RESOURCE_IDS)))
    for flavor, rid in (ids or {}).items():
        out["pool_flavor_resources"][(*ctx, flavor, text(rid))] += 1
    for r in arr(spec.get("resources")):
        r = obj(r)
        if any(k in r and r[k] is not None for k in ("flavor", "count", "maxCount", "azs")):
            n = count(r.get("count"))
            out["pool_resources"][(*ctx, text(r.get("flavor")), n,
                                   n if r.get("maxCount") is None else count(r.get("maxCount")))] += 1
        for z in arr(r.get("azs")):
            z = obj(z)
            if z.get("az") is not None or z.get("count") is not None:
                out["pool_resource_azs"][(*ctx, text(r.get("flavor")), text(z.get("az")),
                                          count(z.get("count")))] += 1
    res = obj(status.get("resources"))
    for state in STATES:
        v = res.get(state)
        entries = v if isinstance(v, list) else [v] if isinstance(v, dict) else []
        for e in entries:
            e = obj(e)
            if any(e.get(k) is not None for k in ("flavor", "count", "maxCount", "azs", "nodePool")):
                n = count(e.get("count"))
                out["pool_capacity"][(*ctx, state, text(e.get("flavor")), n,
                                      n if e.get("maxCount") is None else count(e.get("maxCount")),
                                      text(e.get("nodePool")))] += 1
            for z in arr(e.get("azs")):
                z = obj(z)
                if z.get("az") is not None or z.get("count") is not None:
                    out["pool_capacity_azs"][(*ctx, state, text(e.get("flavor")), text(z.get("az")),
                                              count(z.get("count")), text(e.get("nodePool")))] += 1
    for jf in set(map(text, arr(spec.get("jobFlavors")))):
        if jf not in (None, ""):
            out["pool_job_flavors"][(*ctx, jf)] += 1


def python_pandas(refs: list[BodyRef], out_dir: Path) -> dict[str, int]:
    """The benchmark baseline: the same work as normalize() in a plain Python loop. Reads and parses every body
    file named by `refs`, flattens with `reference()`, and writes every table (snapshot_at included, typed like
    normalize's files) to out_dir/<table>.parquet with pandas (zstd); returns table -> rows."""
    import pandas as pd
    import pyarrow as pa

    parsed = [(ref, json.loads(Path(ref.path).read_bytes())) for ref in refs]
    tables = reference(parsed)
    at = refs[0].snapshot_at if refs else datetime.now(timezone.utc)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for table in TABLES:
        names = COLUMNS[table]
        rows = [(r[0], at, *r[1:]) for r in tables[table].elements()]
        columns = (names[0], "snapshot_at", *names[1:])
        fields = [pa.field(c, pa.timestamp("us", tz="UTC") if c in ("snapshot_at", "created_at") else
                           pa.int32() if c in _INTS else pa.bool_() if c in _BOOLS else pa.string())
                  for c in columns]
        frame = pd.DataFrame.from_records(rows, columns=columns)
        frame.to_parquet(out_dir / f"{table}.parquet", engine="pyarrow", compression="zstd", index=False,
                         schema=pa.schema(fields))
        counts[table] = len(frame)
    return counts
