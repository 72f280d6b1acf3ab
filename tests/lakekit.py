"""Hand-made snapshots for tests: land given pool documents through the real pipeline (landing, normalize,
commit, catalog), so report and history SQL is tested on small fleets whose answers can be computed by hand.

    at = datetime(2026, 11, 1, 0, tzinfo=timezone.utc)
    publish_snapshot(root, at, {("cn-north-4", "p1"): [pool_doc("pool-a", available={"f1": 2})],
                                ("cn-north-4", "p2"): 403})     # p2's listing failed with HTTP 403
    con = duckdb.connect(str(root / "inventory.duckdb"), read_only=True)
"""

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from pipeline.land.landing import Attempt, RawLanding, TargetRef
from pipeline.lake.layout import Layout
from pipeline.lake.store import writer_lock
from pipeline.check.checks import check
from pipeline.lake.commit import commit_staged, publish
from pipeline.normalize.step import stage
from pipeline.sqlfiles import has_sql, sql_text

ENDPOINT = "http://127.0.0.1:9"
ERROR_CODES = {401: "APIGW.0301", 403: "APIGW.0302", 404: "ModelArts.50015001", 429: "APIGW.0308",
               500: "ModelArts.50005000", 503: "APIGW.0201"}


def pool_doc(
    name: str,
    *,
    display_name: str | None = None,
    pool_type: str = "Dedicate",
    phase: str = "Running",
    parent: str | None = None,
    workspace_id: str | None = "0",             # None: no workspace label (the docs' newer examples)
    created: str = "2026-10-01T00:00:00Z",
    requested: dict[str, int] | None = None,     # flavor -> spec count
    available: dict[str, int] | None = None,     # flavor -> nodes available
    abnormal: dict[str, int] | None = None,
    creating: dict[str, int] | None = None,
    deleting: dict[str, int] | None = None,
    azs: dict[str, dict[str, int]] | None = None,  # flavor -> {az: count} for spec.resources
    billing_mode: str | None = "0",             # annotation value; None: absent
    period_type: str | None = None,
    period_num: str | None = None,
    auto_renew: str | None = None,
    order_id: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    scope: list[str] | None = None,
    gpu_driver: str | None = None,
    job_flavors: list[str] | None = None,
) -> dict:
    """A wire-format pool document (reference section 3); absent things are omitted, never null."""
    lab = {"os.modelarts/name": display_name or name}
    if workspace_id is not None:
        lab["os.modelarts/workspace.id"] = workspace_id
    lab.update(labels or {})
    ann = dict(annotations or {})
    for key, value in [("os.modelarts/billing.mode", billing_mode), ("os.modelarts/period.type", period_type),
                       ("os.modelarts/period.num", period_num), ("os.modelarts/auto.renew", auto_renew),
                       ("os.modelarts/order.id", order_id)]:
        if value is not None:
            ann[key] = value
    requested = requested if requested is not None else dict(available or {})
    resources = []
    for flavor, count in requested.items():
        r = {"flavor": flavor, "count": count, "maxCount": count}
        if azs and flavor in azs:
            r["azs"] = [{"az": az, "count": n} for az, n in azs[flavor].items()]
        resources.append(r)
    status_resources = {}
    for state, counts in [("creating", creating), ("available", available), ("abnormal", abnormal),
                          ("deleting", deleting)]:
        if counts:
            status_resources[state] = [{"flavor": f, "count": n} for f, n in counts.items()]
    spec = {"type": pool_type, "scope": scope or ["Train"], "resources": resources,
            "network": {"name": f"net-{name}"}}
    if gpu_driver:
        spec["driver"] = {"gpuVersion": gpu_driver}
    if job_flavors:
        spec["jobFlavors"] = job_flavors
    status = {"phase": phase, "root": name if parent is None else parent, "resources": status_resources,
              "scope": [{"scopeType": s, "state": "Enabled"} for s in (scope or ["Train"])]}
    if parent is not None:
        status["parent"] = parent
    return {"apiVersion": "v2", "kind": "Pool",
            "metadata": {"name": name, "creationTimestamp": created, "labels": lab, "annotations": ann},
            "spec": spec, "status": status}


def flavor_doc(name: str, *, cpu: str = "8", memory: str = "32Gi", gpu: tuple[str, int] | None = None,
               npu: tuple[str, int] | None = None, billing_modes: list[int] | None = None) -> dict:
    """A ResourceFlavor document (reference section 5); gpu/npu = (type, cards per node)."""
    spec = {"type": "Dedicate", "cpuArch": "x86", "cpu": cpu, "memory": memory,
            "billingModes": billing_modes if billing_modes is not None else [0, 1], "jobFlavors": []}
    for kind, acc in (("gpu", gpu), ("npu", npu)):
        if acc:
            spec[kind] = {"type": acc[0], "size": str(acc[1]), "memory": "32Gi", "card": str(acc[1])}
    return {"apiVersion": "v1", "kind": "ResourceFlavor", "metadata": {"name": name}, "spec": spec,
            "status": {"phase": {"az1": "normal"}}}


def publish_snapshot(root: Path, at: datetime, listings: dict[tuple[str, str], list[dict] | int],
                     shows: dict[tuple[str, str, str], dict | int] | None = None,
                     flavors: dict[tuple[str, str], list[dict]] | None = None, *, catalog: bool = True,
                     runtime: dict[tuple[str, str], dict | bytes | int] | None = None,
                     monitor: dict[tuple[str, str, str], list[tuple[str, dict | bytes | int]]] | None = None,
                     per_pool: dict[tuple[str, str, str, str], list[dict | bytes | int]] | None = None) -> str:
    """Land and publish one snapshot taken at `at`. Returns its snapshot id.

    `listings`: (region, project_id) -> the pools its ListPools returned, or an HTTP status if it failed.
    `shows`: (region, project_id, pool_id) -> the ShowPool body, or an HTTP status (e.g. 404).
    `flavors`: (region, project_id) -> the flavor catalog read through that project (one page).
    `catalog`: rebuild the catalog after the commit (False: commit only, for tests that read the lake's files).
    `runtime`: (region, project_id) -> the ShowPoolRuntimeMetrics answer (a document, raw bytes, or a status).
    `monitor`: (region, project_id, pool_id) -> the ShowPoolMonitor calls of the pool, in order, each as (query
    string as sent, e.g. "period=3600&statistics=average&time_range=...", answer: document, bytes or status).
    `per_pool`: (call, region, project_id, pool_id) -> the pages a per-pool call got, in order (each a document,
    raw bytes, or a status), e.g. ("pool_nodes", "r1", "p1", "pool-a") -> [page0, page1].
    """
    layout = Layout(root)
    landing = RawLanding(layout, at.strftime("%Y%m%dT%H%M%SZ"), at)
    targets = []
    for (region, project_id), result in listings.items():
        ref = TargetRef(region, project_id, ENDPOINT)
        targets.append({"region": region, "project_id": project_id, "endpoint": ENDPOINT, "workspace_id": None})
        _record(landing, "list_pools", ref, None, f"/v2/{project_id}/pools", at,
                result if isinstance(result, int) else {"apiVersion": "v2", "kind": "PoolList", "items": result})
    for (region, project_id, pool_id), result in (shows or {}).items():
        ref = TargetRef(region, project_id, ENDPOINT)
        targets.append({"region": region, "project_id": project_id, "endpoint": ENDPOINT, "workspace_id": None})
        _record(landing, "show_pool", ref, pool_id, f"/v2/{project_id}/pools/{pool_id}", at, result)
    for (region, project_id), docs in (flavors or {}).items():
        ref = TargetRef(region, project_id, ENDPOINT)
        _record(landing, "list_resource_flavors", ref, None, f"/v1/{project_id}/resourceflavors", at,
                {"apiVersion": "v1", "kind": "ResourceFlavorList", "metadata": {}, "items": docs})
    for (region, project_id), result in (runtime or {}).items():
        ref = TargetRef(region, project_id, ENDPOINT)
        _record(landing, "runtime_metrics", ref, None, f"/v2/{project_id}/metrics/runtime/pools", at, result)
    for (region, project_id, pool_id), calls in (monitor or {}).items():
        ref = TargetRef(region, project_id, ENDPOINT)
        for page, (query, result) in enumerate(calls):
            _record(landing, "pool_monitor", ref, pool_id, f"/v2/{project_id}/pools/{pool_id}/monitor", at, result,
                    query=query, page=page)
    for (call, region, project_id, pool_id), pages in (per_pool or {}).items():
        ref = TargetRef(region, project_id, ENDPOINT)
        path = _PER_POOL_PATHS.get(call, "/v2/{pid}/pools/{pool}/" + call).format(pid=project_id, pool=pool_id)
        for i, result in enumerate(pages):
            _record(landing, call, ref, pool_id, path, at, result, page=i)
    raw_dir = landing.seal({"targets": targets})
    with writer_lock(layout):
        staged = stage(layout, raw_dir, landing.snapshot_id)
        (publish if catalog else commit_staged)(layout, staged, check(staged))
    return landing.snapshot_id


_PER_POOL_PATHS = {"pool_nodes": "/v2/{pid}/pools/{pool}/nodes",
                   "workload_statistics": "/v2/{pid}/statistics/pools/{pool}/workloads",
                   "pool_events": "/v1/{pid}/events"}


def _record(landing: RawLanding, call: str, ref: TargetRef, pool_id, path: str, at: datetime, result,
            query: str = "", page: int = 0) -> None:
    if isinstance(result, int):
        code = ERROR_CODES.get(result, str(result))
        body = json.dumps({"error_code": code, "error_msg": "simulated"}).encode()
        attempt = Attempt(1, at, 5.0, result, f"http_{result}", code, "r" * 32, body)
        landing.record(call=call, target=ref, pool_id=pool_id, method="GET", path=path, query=query,
                       outcome="error", error_msg="simulated", attempts=[attempt], page=page)
    else:
        body = result if isinstance(result, bytes) else json.dumps(result).encode()
        attempt = Attempt(1, at, 5.0, 200, "ok", None, "r" * 32, body)
        landing.record(call=call, target=ref, pool_id=pool_id, method="GET", path=path, query=query, outcome="ok",
                       error_msg=None, attempts=[attempt], page=page)


def query_catalog(db: Path, sql: str) -> list:
    """Run `sql` on the catalog from another process and folder, as an analyst would: in this process DuckDB
    would hand back its cached instance of the file, not the newly swapped-in catalog."""
    out = subprocess.run(
        [sys.executable, "-c", "import duckdb,sys,json; c=duckdb.connect(sys.argv[1], read_only=True);"
         "print(json.dumps(c.execute(sys.argv[2]).fetchall(), default=str))", str(db), sql],
        capture_output=True, text=True, cwd="/",
    )
    if out.returncode:
        raise AssertionError(f"query on {db} failed: {out.stderr.strip()[-1500:]}")
    return json.loads(out.stdout)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def reject_rows(pages_table: str, pages: list[tuple[str, object]]) -> list[tuple]:
    """Run sql/normalize/_reject_<pages_table>.sql (after its _prepare_ file, if any) over hand-made pages
    (pool_id, body)."""
    c = duckdb.connect(":memory:")
    try:
        c.execute(sql_text("normalize", "_macros"))
        c.execute(sql_text("normalize", "_node_macros"))
        c.execute(f"CREATE TEMP TABLE {pages_table} (region VARCHAR, project_id VARCHAR, pool_id VARCHAR, "
                  "call VARCHAR, page BIGINT, content VARCHAR)")
        for i, (pool, body) in enumerate(pages, start=1):
            text = body.decode() if isinstance(body, bytes) else json.dumps(body)
            c.execute(f"INSERT INTO {pages_table} VALUES ('r1', 'p1', ?, 'x', ?, ?)", [pool, i, text])
        if has_sql("normalize", f"_prepare_{pages_table}"):  # as pipeline/normalize/step.py runs them
            c.execute(sql_text("normalize", f"_prepare_{pages_table}"))
        return c.execute(sql_text("normalize", f"_reject_{pages_table}")).fetchall()
    finally:
        c.close()

