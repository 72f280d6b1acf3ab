"""normalize() at fleet scale, cross-checked row by row against a plain-Python reference flattening.

The documents come from the simulator's generator (pipeline/simulator/generate.py: realistic pools, both shapes
of status.resources, both container network keys, sub-pools, yearly/monthly billing) and from a small local
generator that does not depend on the simulator package. The reference (benchmarks/pool_reference.py, shared
with the benchmark's plain-Python baseline) is written independently of the SQL, straight from the table
definitions; every table must match it exactly as a multiset of rows.

Nothing here is timed: the figures (normalize against that loop and against dlt) come from
`python -m benchmarks.bench_normalize` (`make bench`).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from benchmarks.pool_reference import COLUMNS, reference
from pipeline.normalize.documents import BodyRef, normalize

try:  # the simulator's generator (realistic fleets); a small local one if its module moves
    from pipeline.simulator.generate import generate_pools  # noqa: E402
except ImportError:  # pragma: no cover - depends on the simulator package layout
    try:
        from pipeline.simulator.fleet import generate_pools  # noqa: E402
    except ImportError:
        generate_pools = None

SID = "20261128T060000Z"
AT = datetime(2026, 11, 28, 6, tzinfo=timezone.utc)


# ------------------------------------------------------------------------------------------- fixtures


def local_pools(n: int, seed: int):
    """Stand-in for the simulator's generate_pools: varied, well-formed pools (both status.resources shapes,
    both container network keys, sub-pools, both billing modes), with the docs' shapes of issue 17: no workspace
    label, a Logical pool with the create response's empty status, scope dependency and resource id annotations
    (some malformed)."""
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
        dep = "os.modelarts.pool/scope.external.dependency."
        ann |= rng.choice([{}, {}, {}, {dep + "Train": '{"type":"Enabled","status":"True","message":"",'
                                                          '"network_access":{"type":"Enabled","status":"True"}}'},
                           {dep + "train": '{"type":"Disabled","status":"False","message":"no"}',
                            dep + "Notebook": '{"type":"Enabled",'}])
        ann |= rng.choice([{}, {}, {"os.modelarts/flavor.resource.ids": json.dumps({r["flavor"]: f"r{i}" for r in res})},
                           {"os.modelarts/flavor.resource.ids": "not json"}])
        labels = {"os.modelarts/name": f"p{i}", "os.modelarts/workspace.id": "0",
                  "os.modelarts/tenant.project.id": project, "os.modelarts/region": "cn-north-4",
                  "x.example/unknown": str(rng.random())}
        if rng.random() < 0.2:
            del labels["os.modelarts/workspace.id"]
        status = {"phase": rng.choice(["Running", "Abnormal", "Creating"]),
                  "resources": {"available": entries[0] if sdk else entries},
                  "scope": [{"scopeType": "Train", "state": "Enabled"}],
                  "parent": "" if physical else "pool-parent", "root": name if physical else "pool-parent"}
        if not physical and rng.random() < 0.2:
            status = {}
        yield {
            "kind": "Pool", "apiVersion": "v2",
            "metadata": {"name": name, "creationTimestamp": f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T03:10:40Z",
                         "labels": labels, "annotations": ann},
            "spec": {"type": "Dedicate" if physical else "Logical", "scope": rng.sample(["Train", "Infer", "Notebook"], 2),
                     "resources": res, "jobFlavors": ["j.small", "j.large"][: rng.randint(0, 2)],
                     "network": {"name": f"net-{i % 7}"},
                     ("containernetwork" if sdk else "containerNetwork"): {"mode": "vpc-router"},
                     "controlMode": rng.choice([0, 0, 1, 8, 10, 16])},
            "status": status,
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
    """The table's rows as a Counter of tuples in the reference's column order (see COLUMNS); also checks the
    file's columns (the reference's, plus snapshot_at after snapshot_id) and that snapshot_at is the snapshot's."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        path = str(out / f"{table}.parquet").replace("'", "''")
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{path}')")
        names = COLUMNS[table]
        expected_columns = [names[0], "snapshot_at", *names[1:]]
        if table == "rejected_documents":  # excerpt: the document's text as sent, which the reference omits
            expected_columns.insert(expected_columns.index("documents") + 1, "excerpt")
        assert [r[0] for r in con.execute("DESCRIBE t").fetchall()] == expected_columns, table
        assert con.execute("SELECT count(*) FROM t WHERE snapshot_at IS DISTINCT FROM $at",
                           {"at": AT}).fetchone()[0] == 0, table
        return Counter(con.execute(f"SELECT {', '.join(chr(34) + c + chr(34) for c in names)} FROM t").fetchall())
    finally:
        con.close()


GENERATORS = {"local": local_pools} | ({"simulator": generate_pools} if generate_pools else {})


@pytest.mark.parametrize("generator", sorted(GENERATORS))
def test_fleet_matches_plain_python_reference(tmp_path, generator):
    refs, bodies = land(tmp_path / "raw", 4000, seed=11, show_every=17, generator=GENERATORS[generator])
    counts = normalize(refs, tmp_path / "out")
    expected = reference(bodies)
    assert counts["pools"] == sum(expected["pools"].values()) == 4000
    shapes = Counter(type(v).__name__ for _, b in bodies if "items" in b
                     for d in b["items"] for v in d["status"].get("resources", {}).values())
    assert shapes["list"] > 100 and shapes["dict"] > 10  # both shapes of status.resources were exercised
    assert sum(expected["rejected_documents"].values()) > 200  # the show_pool re-reads are duplicates
    if generator == "local":  # issue 17's shapes were exercised
        assert sum(n for r, n in expected["rejected_documents"].items() if r[8] == "warning") > 100
        assert sum(expected["pool_flavor_resources"].values()) > 500
        assert sum(n for r, n in expected["pools"].items() if r[6]) > 500  # workspace_id_assumed
        assert sum(n for r, n in expected["pool_scopes"].items() if r[7] is not None) > 500  # dependency_raw
    for table, rows in expected.items():
        got = read_rows(tmp_path / "out", table)
        assert counts[table] == sum(rows.values()), table
        missing, extra = rows - got, got - rows
        assert not missing and not extra, (table, list(missing.items())[:3], list(extra.items())[:3])
