"""normalize() at fleet scale, cross-checked row by row against a plain-Python reference flattening.

The documents come from the simulator's generator (pipeline/simulator/generate.py: realistic pools, both shapes
of status.resources, both container network keys, sub-pools, yearly/monthly billing) and from a small local
generator that does not depend on the simulator package. The reference below is
written independently of the SQL, straight from the table definitions; every table must match it exactly as a
multiset of rows.

Run as a script for the timing figures (normalize vs the same plain-Python loop writing the same tables):
    .venv/bin/python tests/lake/test_normalize_scale.py --docs 200000
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pipeline.lake.normalize import TABLES, BodyRef, normalize  # noqa: E402

try:  # the simulator's generator (realistic fleets); a small local one if its module moves
    from pipeline.simulator.generate import generate_pools  # noqa: E402
except ImportError:  # pragma: no cover - depends on the simulator package layout
    try:
        from pipeline.simulator.fleet import generate_pools  # noqa: E402
    except ImportError:
        generate_pools = None

SID = "20261128T060000Z"
AT = datetime(2026, 11, 28, 6, tzinfo=timezone.utc)
STATES = ("creating", "available", "abnormal", "deleting")
INT = re.compile(r"[ \t\n\r\f]*[+-]?[0-9]{1,12}[ \t\n\r\f]*")


# ------------------------------------------------------------------------------------------- reference


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


def reference(bodies: list[tuple[BodyRef, object]]) -> tuple[dict[str, Counter], Counter]:
    """Rows of every pool table (as Counters of tuples) and the rejected (response_id, item_index, reason)."""
    out = {t: Counter() for t in TABLES if t != "rejected_documents"}
    rejected = Counter()
    seen: set[tuple[str, str, str]] = set()
    for ref, body in bodies:
        docs = [(i, d) for i, d in enumerate(body["items"])] if ref.source == "list_pools" else [(None, body)]
        for index, doc in docs:
            name = obj(obj(doc).get("metadata")).get("name")
            if not isinstance(name, str) or not name.strip(" \t\n\r\f\v"):
                rejected[(ref.response_id, index, "pool has no metadata.name")] += 1
                continue
            if (ref.snapshot_id, ref.project_id, name) in seen:
                rejected[(ref.response_id, index, "duplicate pool id in snapshot")] += 1
                continue
            seen.add((ref.snapshot_id, ref.project_id, name))
            flatten(ref, name, doc, out)
    return out, rejected


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
    out["pools"][(
        *ctx, text(lab.get("os.modelarts/name")), text(lab.get("os.modelarts/workspace.id")),
        text(lab.get("os.modelarts/resource.id")), text(spec.get("type")), text(status.get("phase")),
        text(status.get("message")), parent, text(status.get("root")) or None, parent is None,
        timestamp(meta.get("creationTimestamp")), text(ann.get("os.modelarts/description")),
        {"0": "pay_per_use", "1": "yearly_monthly"}.get(text(ann.get("os.modelarts/billing.mode")), "unknown"),
        None if period is None else {"2": "month", "3": "year", "4": "hour"}.get(period, "unknown"),
        integer(ann.get("os.modelarts/period.num")),
        {"1": True, "true": True, "0": False, "false": False}.get(str(ann.get("os.modelarts/auto.renew")).lower()),
        text(ann.get("os.modelarts/order.id")), integer(ann.get("os.modelarts.pool/subpools.count")), cm, *flags,
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
    for st in set(map(text, requested)) | set(states):
        out["pool_scopes"][(*ctx, st, st in map(text, requested), states.get(st))] += 1
    for r in arr(spec.get("resources")):
        r = obj(r)
        if any(k in r and r[k] is not None for k in ("flavor", "count", "maxCount", "azs")):
            out["pool_resources"][(*ctx, text(r.get("flavor")), integer(r.get("count")),
                                   integer(r.get("maxCount")))] += 1
        for z in arr(r.get("azs")):
            z = obj(z)
            if z.get("az") is not None or z.get("count") is not None:
                out["pool_resource_azs"][(*ctx, text(r.get("flavor")), text(z.get("az")),
                                          integer(z.get("count")))] += 1
    res = obj(status.get("resources"))
    for state in STATES:
        v = res.get(state)
        entries = v if isinstance(v, list) else [v] if isinstance(v, dict) else []
        for e in entries:
            e = obj(e)
            if any(e.get(k) is not None for k in ("flavor", "count", "maxCount", "azs", "nodePool")):
                out["pool_capacity"][(*ctx, state, text(e.get("flavor")), integer(e.get("count")),
                                      integer(e.get("maxCount")), text(e.get("nodePool")))] += 1
            for z in arr(e.get("azs")):
                z = obj(z)
                if z.get("az") is not None or z.get("count") is not None:
                    out["pool_capacity_azs"][(*ctx, state, text(e.get("flavor")), text(z.get("az")),
                                              integer(z.get("count")), text(e.get("nodePool")))] += 1
    for jf in set(map(text, arr(spec.get("jobFlavors")))):
        if jf not in (None, ""):
            out["pool_job_flavors"][(*ctx, jf)] += 1


# ------------------------------------------------------------------------------------------- fixtures


def local_pools(n: int, seed: int):
    """Stand-in for the simulator's generate_pools: varied, well-formed pools (both status.resources shapes,
    both container network keys, sub-pools, both billing modes)."""
    import random

    rng = random.Random(seed)
    flavors = ["modelarts.vm.cpu.8u", "modelarts.vm.gpu.tnt004", "modelarts.bm.npu.arm.8snt9b3.d"]
    for i in range(n):
        project = f"{seed:08x}{i // 50:024x}"
        name = f"pool-{rng.getrandbits(128):032x}"
        sdk = rng.random() < 0.1
        physical = rng.random() < 0.7
        res = [{"flavor": f, "count": c, "maxCount": c if physical else c + 2,
                "azs": [{"az": "cn-north-4a", "count": c - c // 2}, {"az": "cn-north-4b", "count": c // 2}]}
               for f, c in ((f, rng.randint(1, 9)) for f in rng.sample(flavors, rng.randint(1, 2)))]
        entries = [{"flavor": r["flavor"], "count": r["count"], "azs": r["azs"]} for r in res]
        ann = {"os.modelarts/description": rng.choice(["", "team a; \"b\"", "训练"]),
               "os.modelarts/billing.mode": rng.choice("01")}
        if ann["os.modelarts/billing.mode"] == "1":
            ann |= {"os.modelarts/period.type": rng.choice("234"), "os.modelarts/period.num": str(rng.randint(1, 12)),
                    "os.modelarts/auto.renew": rng.choice("01"), "os.modelarts/order.id": f"CS{i:010d}"}
        yield {
            "kind": "Pool", "apiVersion": "v2",
            "metadata": {"name": name, "creationTimestamp": f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T03:10:40Z",
                         "labels": {"os.modelarts/name": f"p{i}", "os.modelarts/workspace.id": "0",
                                    "os.modelarts/tenant.project.id": project, "os.modelarts/region": "cn-north-4",
                                    "x.example/unknown": str(rng.random())},
                         "annotations": ann},
            "spec": {"type": "Dedicate" if physical else "Logical", "scope": rng.sample(["Train", "Infer", "Notebook"], 2),
                     "resources": res, "jobFlavors": ["j.small", "j.large"][: rng.randint(0, 2)],
                     "network": {"name": f"net-{i % 7}"},
                     ("containernetwork" if sdk else "containerNetwork"): {"mode": "vpc-router"},
                     "controlMode": rng.choice([0, 0, 1, 8, 10, 16])},
            "status": {"phase": rng.choice(["Running", "Abnormal", "Creating"]),
                       "resources": {"available": entries[0] if sdk else entries},
                       "scope": [{"scopeType": "Train", "state": "Enabled"}],
                       "parent": "" if physical else "pool-parent", "root": name if physical else "pool-parent"},
        }


def land(raw: Path, n_docs: int, seed: int, show_every: int = 0, generator=None
         ) -> tuple[list[BodyRef], list[tuple[BodyRef, object]]]:
    """The generator's pools as one list_pools body per project (plus, if asked, a show_pool body re-reading
    every `show_every`-th pool: a duplicate of a listed pool in the same snapshot)."""
    raw.mkdir(parents=True, exist_ok=True)
    by_project: dict[tuple[str, str], list[dict]] = {}
    for doc in (generator or generate_pools or local_pools)(n_docs, seed):
        lab = doc["metadata"]["labels"]
        key = (lab.get("os.modelarts/region", "cn-north-4"), lab.get("os.modelarts/tenant.project.id", "legacy"))
        by_project.setdefault(key, []).append(doc)
    refs, bodies = [], []
    encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    for (region, project), docs in by_project.items():
        body = {"apiVersion": "v2", "kind": "PoolList", "items": docs}
        path = raw / f"list-{project}-{len(refs)}.json"
        path.write_text(encode(body), encoding="utf-8")
        refs.append(BodyRef(SID, AT, region, project, "list_pools", str(path), f"list-{len(refs)}"))
        bodies.append((refs[-1], body))
        for i, doc in enumerate(docs):
            if show_every and i % show_every == 0:
                path = raw / f"show-{project}-{i}.json"
                path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
                refs.append(BodyRef(SID, AT, region, project, "show_pool", str(path), f"show-{len(refs)}"))
                bodies.append((refs[-1], doc))
    return refs, bodies


def read_rows(out: Path, table: str) -> Counter:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(f"SELECT * EXCLUDE (snapshot_at) FROM read_parquet('{out / table}.parquet')").fetchall()
        return Counter(rows)
    finally:
        con.close()


GENERATORS = {"local": local_pools} | ({"simulator": generate_pools} if generate_pools else {})


@pytest.mark.parametrize("generator", sorted(GENERATORS))
def test_fleet_matches_plain_python_reference(tmp_path, generator):
    refs, bodies = land(tmp_path / "raw", 4000, seed=11, show_every=17, generator=GENERATORS[generator])
    counts = normalize(refs, tmp_path / "out")
    expected, rejected = reference(bodies)
    assert counts["pools"] == sum(expected["pools"].values()) == 4000
    shapes = Counter(type(v).__name__ for _, b in bodies if "items" in b
                     for d in b["items"] for v in d["status"].get("resources", {}).values())
    assert shapes["list"] > 100 and shapes["dict"] > 10  # both shapes of status.resources were exercised
    for table, rows in expected.items():
        got = read_rows(tmp_path / "out", table)
        assert counts[table] == sum(rows.values()), table
        missing, extra = rows - got, got - rows
        assert not missing and not extra, (table, list(missing.items())[:3], list(extra.items())[:3])
    con = duckdb.connect()
    got_rej = Counter(con.execute(
        f"SELECT response_id, item_index, reason FROM read_parquet('{tmp_path}/out/rejected_documents.parquet')"
    ).fetchall())
    assert got_rej == rejected and sum(rejected.values()) > 200  # the show_pool re-reads are duplicates


# ------------------------------------------------------------------------------------------- timing


def python_baseline(bodies: list[tuple[BodyRef, object]], refs: list[BodyRef], out: Path) -> float:
    """The same work as a plain Python loop: read and parse every body, flatten, write every table with pyarrow."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    start = time.perf_counter()
    parsed = [(ref, json.loads(Path(ref.path).read_bytes())) for ref in refs]
    tables, _ = reference(parsed)
    out.mkdir(parents=True, exist_ok=True)
    for table, rows in tables.items():
        cols = list(zip(*rows.elements())) if rows else []
        pq.write_table(pa.table({f"c{i}": pa.array(c) for i, c in enumerate(cols)}) if cols else pa.table({}),
                       out / f"{table}.parquet", compression="zstd")
    return time.perf_counter() - start


def main() -> int:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline", action="store_true", help="also time the plain-Python loop")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        refs, bodies = land(Path(tmp) / "raw", args.docs, seed=5)
        print(f"landed {args.docs} docs in {len(refs)} bodies ({time.perf_counter() - t0:.1f}s)")
        times = []
        for i in range(args.repeat):
            start = time.perf_counter()
            counts = normalize(refs, Path(tmp) / f"out{i}")
            times.append(time.perf_counter() - start)
        print(f"normalize: best {min(times):.2f}s, median {sorted(times)[len(times) // 2]:.2f}s  {counts}")
        if args.baseline:
            base = python_baseline(bodies, refs, Path(tmp) / "py")
            print(f"plain Python loop: {base:.2f}s ({base / min(times):.1f}x slower)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
