"""normalize(): landed pool bodies -> Parquet tables, checked value by value against hand-computed expectations.

Each test lands bodies as files (bytes exactly as a server could send them), runs normalize() and reads the
Parquet files back with DuckDB.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from pipeline.normalize.documents import TABLES, BodyRef, normalize

FIXTURES = Path(__file__).parent / "fixtures"
SID = "20261128T060000Z"
AT = datetime(2026, 11, 28, 6, 0, tzinfo=timezone.utc)
DOC_POOL = "auto-pool-os-86c13962597848eeb29c5861153a391f"


class Run:
    """Bodies landed into a temporary folder, then normalized; rows are read back from the Parquet files."""

    def __init__(self, tmp_path: Path):
        self.raw = tmp_path / "raw"
        self.raw.mkdir()
        self.out = tmp_path / "out"
        self.bodies: list[BodyRef] = []
        self.counts: dict[str, int] | None = None

    def body(self, content, source: str = "list_pools", project: str = "p1", region: str = "cn-north-4",
             snapshot_id: str = SID, snapshot_at: datetime = AT, file: str | None = None) -> BodyRef:
        n = len(self.bodies)
        path = self.raw / (file or f"body-{n:03d}.json")
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
        ref = BodyRef(snapshot_id=snapshot_id, snapshot_at=snapshot_at, region=region, project_id=project,
                      source=source, path=str(path), response_id=f"resp-{n:03d}")
        self.bodies.append(ref)
        return ref

    def pools(self, *docs, **kw) -> BodyRef:
        return self.body({"apiVersion": "v2", "kind": "PoolList", "items": list(docs)}, **kw)

    def run(self) -> dict[str, int]:
        self.counts = normalize(self.bodies, self.out)
        return self.counts

    def rows(self, table: str, where: str = "true", order: str = "ALL") -> list[dict]:
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            cur = con.execute(
                f"SELECT * FROM read_parquet('{self.out / (table + '.parquet')}') WHERE {where} ORDER BY {order}"
            )
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]
        finally:
            con.close()

    def pool(self, pool_id: str) -> dict:
        got = self.rows("pools", f"pool_id = '{pool_id}'")
        assert len(got) == 1, got
        return got[0]


def pool(name, **parts) -> dict:
    """A minimal valid pool document; `parts` replaces or adds top-level keys (metadata, spec, status)."""
    doc = {"kind": "Pool", "apiVersion": "v2", "metadata": {"name": name}, "spec": {}, "status": {}}
    doc.update(parts)
    return doc


def strip_ctx(rows: list[dict], *drop: str) -> list[dict]:
    ctx = {"snapshot_id", "snapshot_at", "region", "project_id", "pool_id", *drop}
    return [{k: v for k, v in r.items() if k not in ctx} for r in rows]


@pytest.fixture
def run(tmp_path) -> Run:
    return Run(tmp_path)


# ------------------------------------------------------------------------------------------- schemas

CTX = {"snapshot_id": "VARCHAR", "snapshot_at": "TIMESTAMP WITH TIME ZONE", "region": "VARCHAR",
       "project_id": "VARCHAR"}
POOL_CTX = {**CTX, "pool_id": "VARCHAR"}
SCHEMAS = {
    "pools": {
        **POOL_CTX, "display_name": "VARCHAR", "workspace_id": "VARCHAR", "workspace_id_assumed": "BOOLEAN",
        "resource_id": "VARCHAR",
        "pool_type": "VARCHAR", "phase": "VARCHAR", "message": "VARCHAR", "parent": "VARCHAR", "root": "VARCHAR",
        "is_physical": "BOOLEAN", "created_at": "TIMESTAMP WITH TIME ZONE", "description": "VARCHAR",
        "billing_mode": "VARCHAR", "period_type": "VARCHAR", "period_num": "INTEGER", "auto_renew": "BOOLEAN",
        "order_id": "VARCHAR", "subpools_count": "INTEGER", "control_mode": "INTEGER",
        "cm_to_yearly_monthly_restricted": "BOOLEAN", "cm_flavor_change_restricted": "BOOLEAN",
        "cm_service_restricted": "BOOLEAN", "cm_frozen": "BOOLEAN", "cm_police_frozen": "BOOLEAN",
        "network_name": "VARCHAR", "container_network_mode": "VARCHAR", "gpu_driver_version": "VARCHAR",
        "npu_driver_version": "VARCHAR", "driver_update_strategy": "VARCHAR", "gpu_driver_state": "VARCHAR",
        "npu_driver_state": "VARCHAR", "source": "VARCHAR", "response_id": "VARCHAR",
    },
    "pool_labels": {**POOL_CTX, "key": "VARCHAR", "value": "VARCHAR"},
    "pool_annotations": {**POOL_CTX, "key": "VARCHAR", "value": "VARCHAR"},
    "pool_scopes": {**POOL_CTX, "scope_type": "VARCHAR", "requested": "BOOLEAN", "state": "VARCHAR",
                    "dependency_raw": "VARCHAR", "dependency_readable": "BOOLEAN", "dependency_type": "VARCHAR",
                    "dependency_status": "VARCHAR", "dependency_message": "VARCHAR",
                    "network_access_type": "VARCHAR", "network_access_status": "VARCHAR",
                    "network_access_message": "VARCHAR"},
    "pool_resources": {**POOL_CTX, "flavor": "VARCHAR", "count": "INTEGER", "max_count": "INTEGER"},
    "pool_resource_azs": {**POOL_CTX, "flavor": "VARCHAR", "az": "VARCHAR", "count": "INTEGER"},
    "pool_capacity": {**POOL_CTX, "state": "VARCHAR", "flavor": "VARCHAR", "count": "INTEGER",
                      "max_count": "INTEGER", "node_pool": "VARCHAR"},
    "pool_capacity_azs": {**POOL_CTX, "state": "VARCHAR", "flavor": "VARCHAR", "az": "VARCHAR", "count": "INTEGER",
                          "node_pool": "VARCHAR"},
    "pool_job_flavors": {**POOL_CTX, "job_flavor": "VARCHAR"},
    "pool_flavor_resources": {**POOL_CTX, "flavor": "VARCHAR", "resource_id": "VARCHAR"},
    "rejected_documents": {
        **CTX, "response_id": "VARCHAR", "source": "VARCHAR", "item_index": "INTEGER", "pool_id": "VARCHAR",
        "reason": "VARCHAR", "severity": "VARCHAR", "documents": "INTEGER", "excerpt": "VARCHAR",
        "kept_response_id": "VARCHAR", "kept_item_index": "INTEGER",
    },
}


def parquet_schema(path: Path) -> dict[str, str]:
    con = duckdb.connect()
    try:
        cur = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')")
        return {name: typ for name, typ, *_ in cur.fetchall()}
    finally:
        con.close()


def test_no_bodies_writes_every_table_empty_with_its_schema(tmp_path):
    counts = normalize([], tmp_path / "out")
    assert counts == {t: 0 for t in TABLES}
    assert set(SCHEMAS) == set(TABLES)
    for table, schema in SCHEMAS.items():
        path = tmp_path / "out" / f"{table}.parquet"
        assert path.exists(), table
        assert parquet_schema(path) == schema, table


def test_empty_list_body_gives_no_rows_and_no_rejection(run):
    run.pools()
    assert run.run() == {t: 0 for t in TABLES}
    for table, schema in SCHEMAS.items():
        assert parquet_schema(run.out / f"{table}.parquet") == schema, table


# ------------------------------------------------------------------------------------------- doc examples

def check_doc_example(run: Run, source: str, response_id: str, az: str, workspace_assumed: bool, annotations: dict):
    p = run.pool(DOC_POOL)
    assert p == {
        "snapshot_id": SID, "snapshot_at": AT, "region": "cn-north-4", "project_id": "p1", "pool_id": DOC_POOL,
        "display_name": "auto-pool-os", "workspace_id": "0", "workspace_id_assumed": workspace_assumed,
        "resource_id": "maos-auto-pool-os-72w8d",
        "pool_type": "Dedicate", "phase": "Running", "message": None, "parent": None, "root": DOC_POOL,
        "is_physical": True, "created_at": datetime(2022, 9, 16, 3, 10, 40, tzinfo=timezone.utc),
        "description": "", "billing_mode": "pay_per_use", "period_type": None, "period_num": None,
        "auto_renew": None, "order_id": None, "subpools_count": 0, "control_mode": None,
        "cm_to_yearly_monthly_restricted": None, "cm_flavor_change_restricted": None,
        "cm_service_restricted": None, "cm_frozen": None, "cm_police_frozen": None,
        "network_name": "network-maos-86c13962597848eeb29c5861153a391f", "container_network_mode": None,
        "gpu_driver_version": None, "npu_driver_version": None, "driver_update_strategy": None,
        "gpu_driver_state": None, "npu_driver_state": None, "source": source, "response_id": response_id,
    }
    assert {r["key"]: r["value"] for r in run.rows("pool_annotations")} == annotations
    no_dependency = {"dependency_raw": None, "dependency_readable": None, "dependency_type": None,
                     "dependency_status": None, "dependency_message": None, "network_access_type": None,
                     "network_access_status": None, "network_access_message": None}
    assert strip_ctx(run.rows("pool_scopes")) == [
        {"scope_type": "Infer", "requested": True, "state": "Enabled", **no_dependency},
        {"scope_type": "Train", "requested": True, "state": "Enabled", **no_dependency},
    ]
    assert strip_ctx(run.rows("pool_resources")) == [{"flavor": "modelarts.vm.cpu.4ud", "count": 2, "max_count": 2}]
    assert run.rows("pool_resource_azs") == []
    assert strip_ctx(run.rows("pool_capacity")) == [
        {"state": "available", "flavor": "modelarts.vm.cpu.4ud", "count": 2, "max_count": 2, "node_pool": None}
    ]
    assert strip_ctx(run.rows("pool_capacity_azs")) == [
        {"state": "available", "flavor": "modelarts.vm.cpu.4ud", "az": az, "count": 2, "node_pool": None}
    ]
    assert run.rows("pool_job_flavors") == []
    assert run.rows("rejected_documents") == []


def test_seed_show_pool_example(run):
    run.body((FIXTURES / "show_pool_doc_example.json").read_bytes(), source="show_pool")
    counts = run.run()
    assert counts == {"pools": 1, "pool_labels": 3, "pool_annotations": 2, "pool_scopes": 2, "pool_resources": 1,
                      "pool_resource_azs": 0, "pool_capacity": 1, "pool_capacity_azs": 1, "pool_job_flavors": 0,
                      "pool_flavor_resources": 0,
                      "rejected_documents": 0}
    check_doc_example(run, "show_pool", "resp-000", "cn-north-7c", False,
                      {"os.modelarts/description": "", "os.modelarts/billing.mode": "0"})
    assert {r["key"]: r["value"] for r in run.rows("pool_labels")} == {
        "os.modelarts/name": "auto-pool-os", "os.modelarts/workspace.id": "0",
        "os.modelarts/resource.id": "maos-auto-pool-os-72w8d",
    }


def test_reference_list_pools_example(run):
    run.body((FIXTURES / "list_pools_reference_example.json").read_bytes())
    run.run()
    # No workspace label (as in the 2024-11 and later examples): the default workspace "0", marked assumed.
    check_doc_example(run, "list_pools", "resp-000", "az-7c", True, {
        "os.modelarts/description": "", "os.modelarts/billing.mode": "0", "os.modelarts/external-access": "elb",
    })


# ------------------------------------------------------------------------------------------- pools columns

def test_logical_sub_pool_has_parent_and_root(run):
    run.pools(
        pool("pool-parent", spec={"type": "Dedicate"}, status={"parent": "", "root": "pool-parent"}),
        pool("pool-child", spec={"type": "Logical"}, status={"parent": "pool-parent", "root": "pool-parent"}),
        pool("pool-noparent", status={"parent": None}),
    )
    run.run()
    rows = {r["pool_id"]: (r["pool_type"], r["parent"], r["root"], r["is_physical"]) for r in run.rows("pools")}
    assert rows == {
        "pool-parent": ("Dedicate", None, "pool-parent", True),
        "pool-child": ("Logical", "pool-parent", "pool-parent", False),
        "pool-noparent": (None, None, None, True),
    }


def ann(**kv) -> dict:
    return {"metadata": {"annotations": {f"os.modelarts/{k.replace('_', '.')}": v for k, v in kv.items()}}}


def billing_pool(name: str, annotations: dict | None) -> dict:
    meta = {"name": name}
    if annotations is not None:
        meta["annotations"] = annotations
    return pool(name, metadata=meta)


@pytest.mark.parametrize(
    "annotations, expected",
    [
        (None, ("unknown", None, None, None, None)),
        ({}, ("unknown", None, None, None, None)),
        ({"os.modelarts/billing.mode": "0"}, ("pay_per_use", None, None, None, None)),
        ({"os.modelarts/billing.mode": "1", "os.modelarts/period.type": "2", "os.modelarts/period.num": "3",
          "os.modelarts/auto.renew": "1", "os.modelarts/order.id": "CS2611281200ABCDE"},
         ("yearly_monthly", "month", 3, True, "CS2611281200ABCDE")),
        ({"os.modelarts/billing.mode": "1", "os.modelarts/period.type": "3", "os.modelarts/period.num": "1",
          "os.modelarts/auto.renew": "0"}, ("yearly_monthly", "year", 1, False, None)),
        ({"os.modelarts/billing.mode": "1", "os.modelarts/period.type": "4", "os.modelarts/auto.renew": "true"},
         ("yearly_monthly", "hour", None, True, None)),
        ({"os.modelarts/billing.mode": "2", "os.modelarts/period.type": "9", "os.modelarts/auto.renew": "false"},
         ("unknown", "unknown", None, False, None)),
        ({"os.modelarts/billing.mode": "", "os.modelarts/period.num": "two", "os.modelarts/auto.renew": "yes"},
         ("unknown", None, None, None, None)),
        # non-string JSON values are read as their JSON text: 1 -> "1"
        ({"os.modelarts/billing.mode": 1, "os.modelarts/period.type": 2, "os.modelarts/period.num": 6},
         ("yearly_monthly", "month", 6, None, None)),
        ({"os.modelarts/period.num": "2.5", "os.modelarts/auto.renew": "TRUE "}, ("unknown", None, None, True, None)),
    ],
)
def test_billing_annotations(run, annotations, expected):
    run.pools(billing_pool("pool-b", annotations))
    run.run()
    p = run.pool("pool-b")
    assert (p["billing_mode"], p["period_type"], p["period_num"], p["auto_renew"], p["order_id"]) == expected


@pytest.mark.parametrize(
    "mode, expected",
    [
        (10, (10, False, True, False, True, False)),
        (9, (9, True, False, False, True, False)),
        ("9", (9, True, False, False, True, False)),
        (0, (0, False, False, False, False, False)),
        (31, (31, True, True, True, True, True)),
        (16, (16, False, False, False, False, True)),
        (4, (4, False, False, True, False, False)),
        (-1, (-1, None, None, None, None, None)),
        ("abc", (None, None, None, None, None, None)),
        (2.5, (None, None, None, None, None, None)),
        (True, (None, None, None, None, None, None)),
        (None, (None, None, None, None, None, None)),
    ],
)
def test_control_mode_bits(run, mode, expected):
    run.pools(pool("pool-cm", spec={"controlMode": mode}))
    run.run()
    p = run.pool("pool-cm")
    assert (p["control_mode"], p["cm_to_yearly_monthly_restricted"], p["cm_flavor_change_restricted"],
            p["cm_service_restricted"], p["cm_frozen"], p["cm_police_frozen"]) == expected


def test_drivers_network_container_network_both_keys(run):
    run.pools(
        pool("pool-docs-key", spec={
            "network": {"name": "net-a"}, "containerNetwork": {"mode": "vpc-router", "cidr": "10.0.0.0/16"},
            "driver": {"gpuVersion": "440.33", "npuVersion": "C78", "updateStrategy": "idle"},
        }, status={"driver": {"gpu": {"version": "440.33", "state": "Running"},
                              "npu": {"version": "C78", "state": "Upgrading"}}}),
        pool("pool-sdk-key", spec={"containernetwork": {"mode": "overlay_l2"}}),
        pool("pool-no-key", spec={"network": "not-an-object", "containerNetwork": "eni"}),
    )
    run.run()
    got = {r["pool_id"]: (r["network_name"], r["container_network_mode"], r["gpu_driver_version"],
                          r["npu_driver_version"], r["driver_update_strategy"], r["gpu_driver_state"],
                          r["npu_driver_state"]) for r in run.rows("pools")}
    assert got == {
        "pool-docs-key": ("net-a", "vpc-router", "440.33", "C78", "idle", "Running", "Upgrading"),
        "pool-sdk-key": (None, "overlay_l2", None, None, None, None, None),
        "pool-no-key": (None, None, None, None, None, None, None),
    }


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2022-09-16T03:10:40Z", datetime(2022, 9, 16, 3, 10, 40, tzinfo=timezone.utc)),
        ("2022-09-16T11:10:40+08:00", datetime(2022, 9, 16, 3, 10, 40, tzinfo=timezone.utc)),
        ("2022-09-16T03:10:40.123Z", datetime(2022, 9, 16, 3, 10, 40, 123000, tzinfo=timezone.utc)),
        ("2022-09-16 03:10:40", datetime(2022, 9, 16, 3, 10, 40, tzinfo=timezone.utc)),
        ("2022-13-45T00:00:00Z", None),
        ("yesterday", None),
        ("infinity", None),
        ("", None),
        (1663297840, None),
        (None, None),
    ],
)
def test_created_at_parses_or_is_null(run, value, expected):
    run.pools(pool("pool-ts", metadata={"name": "pool-ts", "creationTimestamp": value}))
    run.run()
    assert run.pool("pool-ts")["created_at"] == expected


def test_workspace_display_name_description_subpools(run):
    run.pools(pool("pool-w", metadata={
        "name": "pool-w",
        "labels": {"os.modelarts/name": "gpu-train-01", "os.modelarts/workspace.id": "a" * 32},
        "annotations": {"os.modelarts/description": "team \"alpha\"; 训练", "os.modelarts.pool/subpools.count": "3"},
    }))
    run.run()
    p = run.pool("pool-w")
    assert (p["display_name"], p["workspace_id"], p["workspace_id_assumed"], p["description"], p["subpools_count"]) == (
        "gpu-train-01", "a" * 32, False, "team \"alpha\"; 训练", 3)


# ------------------------------------------------------------------------------------------- child tables

def test_labels_and_annotations_keep_every_key_and_odd_values(run):
    labels = {
        "os.modelarts/name": "pool one",
        "custom/unknown-key": "x",
        "quote\"key": "value with \"quotes\"",
        "semi;colon": "a;b;c",
        "ключ/键": "значение 值 🚀",
        "": "empty key",
        "number": 3,
        "float": 2.5,
        "bool": True,
        "object": {"a": [1, "b"]},
        "null": None,
        "empty": "",
    }
    annotations = {"os.modelarts/billing.mode": "1", "x.example.com/owner": "ops;team=\"b\"", "tab\tkey": "line\nbreak"}
    run.pools(pool("pool-l", metadata={"name": "pool-l", "labels": labels, "annotations": annotations}))
    run.run()
    got = {r["key"]: r["value"] for r in run.rows("pool_labels")}
    assert got == {
        "os.modelarts/name": "pool one",
        "custom/unknown-key": "x",
        "quote\"key": "value with \"quotes\"",
        "semi;colon": "a;b;c",
        "ключ/键": "значение 值 🚀",
        "": "empty key",
        "number": "3",
        "float": "2.5",
        "bool": "true",
        "object": '{"a":[1,"b"]}',
        "null": None,
        "empty": "",
    }
    assert len(run.rows("pool_labels")) == len(labels)
    assert {r["key"]: r["value"] for r in run.rows("pool_annotations")} == annotations
    assert run.pool("pool-l")["display_name"] == "pool one"


def test_labels_that_are_not_an_object_give_no_rows(run):
    run.pools(
        pool("pool-a", metadata={"name": "pool-a", "labels": ["os.modelarts/name", "x"], "annotations": "text"}),
        pool("pool-b", metadata={"name": "pool-b", "labels": None, "annotations": 7}),
        pool("pool-c", metadata={"name": "pool-c", "labels": {"k": "v"}}),
    )
    run.run()
    assert [(r["pool_id"], r["key"], r["value"]) for r in run.rows("pool_labels")] == [("pool-c", "k", "v")]
    assert run.rows("pool_annotations") == []
    assert len(run.rows("pools")) == 3


def test_duplicate_label_key_in_raw_json_is_kept_as_sent(run):
    raw = ('{"items":[{"metadata":{"name":"pool-d","labels":{"k":"first","j":"x","k":"second","os.modelarts/name":"a",'
           '"os.modelarts/name":"b"},"annotations":{"os.modelarts/billing.mode":"1","os.modelarts/billing.mode":"0"}}}]}')
    run.body(raw)
    run.run()
    assert [(r["key"], r["value"]) for r in run.rows("pool_labels", order="key, value")] == [
        ("j", "x"), ("k", "first"), ("k", "second"), ("os.modelarts/name", "a"), ("os.modelarts/name", "b")]
    assert len(run.rows("pool_annotations")) == 2
    p = run.pool("pool-d")  # the pools table reads the first value of a repeated key
    assert (p["display_name"], p["billing_mode"]) == ("a", "yearly_monthly")


def test_scopes_are_the_union_of_spec_and_status(run):
    run.pools(
        pool("pool-s",
             spec={"scope": ["Train", "Notebook", "Train", None, ""]},
             status={"scope": [{"scopeType": "Train", "state": "Enabled"},
                               {"scopeType": "Infer", "state": "Disabling"},
                               {"scopeType": "Train", "state": "Disabled"},
                               {"state": "Enabled"}, "junk", None]}),
        pool("pool-none"),
        pool("pool-status-only", status={"scope": [{"scopeType": "Notebook", "state": "EnableFailed",
                                                    "plugins": [{"name": "x", "phase": "Pending"}]}]}),
    )
    run.run()
    got = [(r["pool_id"], r["scope_type"], r["requested"], r["state"]) for r in run.rows("pool_scopes")]
    assert got == [
        ("pool-s", "Infer", False, "Disabling"),
        ("pool-s", "Notebook", True, None),
        ("pool-s", "Train", True, "Enabled"),
        ("pool-status-only", "Notebook", False, "EnableFailed"),
    ]


def test_resources_and_per_az_rows_with_absent_and_string_counts(run):
    run.pools(pool("pool-r", spec={"resources": [
        {"flavor": "modelarts.vm.gpu.tnt004", "count": 4, "maxCount": 6,
         "azs": [{"az": "cn-north-4a", "count": 3}, {"az": "cn-north-4b", "count": "1"}]},
        {"flavor": "modelarts.vm.cpu.8u", "count": " 3 ",
         "azs": [{"az": "cn-north-4a", "count": "+2"}, {"az": "cn-north-4c"}, {"count": None}, 7, None, {}]},
        {"flavor": "modelarts.vm.npu.snt9", "maxCount": None, "azs": "cn-north-4a"},
        "not-an-object",
        {},
        {"count": 0, "maxCount": 2147483647},
    ]}))
    run.run()
    # absent (or null) count: 0; absent maxCount: the count (see pool_resources.sql)
    assert strip_ctx(run.rows("pool_resources", order="flavor NULLS LAST")) == [
        {"flavor": "modelarts.vm.cpu.8u", "count": 3, "max_count": 3},
        {"flavor": "modelarts.vm.gpu.tnt004", "count": 4, "max_count": 6},
        {"flavor": "modelarts.vm.npu.snt9", "count": 0, "max_count": 0},
        {"flavor": None, "count": 0, "max_count": 2147483647},
    ]
    assert strip_ctx(run.rows("pool_resource_azs", order="flavor, az NULLS LAST, count")) == [
        {"flavor": "modelarts.vm.cpu.8u", "az": "cn-north-4a", "count": 2},
        {"flavor": "modelarts.vm.cpu.8u", "az": "cn-north-4c", "count": 0},
        {"flavor": "modelarts.vm.gpu.tnt004", "az": "cn-north-4a", "count": 3},
        {"flavor": "modelarts.vm.gpu.tnt004", "az": "cn-north-4b", "count": 1},
    ]
    assert run.rows("rejected_documents") == []


def test_capacity_reads_list_shape_and_object_shape(run):
    run.pools(
        # docs shape: arrays
        pool("pool-list", status={"resources": {
            "available": [{"flavor": "f.gpu", "count": 3, "maxCount": 3,
                           "azs": [{"az": "az1", "count": 2}, {"az": "az2", "count": 1}]},
                          {"flavor": "f.cpu", "count": "2", "azs": [{"az": "az1", "count": "2"}]}],
            "creating": [{"flavor": "f.gpu", "count": 1, "azs": [{"az": "az2", "count": 1}]}],
            "abnormal": [],
        }}),
        # SDK shape: one object per state
        pool("pool-object", status={"resources": {
            "available": {"flavor": "f.npu", "count": 8, "maxCount": 16, "nodePool": "np-1",
                          "azs": [{"az": "az3", "count": 8}]},
            "deleting": {"flavor": "f.npu", "count": 1},
            "abnormal": {},
        }}),
        # mixed and broken
        pool("pool-mixed", status={"resources": {
            "available": [{"flavor": "f.cpu", "count": 1}, "junk", None, 5],
            "abnormal": "three",
            "creating": 3,
            "unknownState": [{"flavor": "f.cpu", "count": 1}],
        }}),
        pool("pool-noresources", status={"resources": None}),
    )
    run.run()
    got = [(r["pool_id"], r["state"], r["flavor"], r["count"], r["max_count"], r["node_pool"])
           for r in run.rows("pool_capacity")]
    assert got == [  # an absent maxCount reads as the count
        ("pool-list", "available", "f.cpu", 2, 2, None),
        ("pool-list", "available", "f.gpu", 3, 3, None),
        ("pool-list", "creating", "f.gpu", 1, 1, None),
        ("pool-mixed", "available", "f.cpu", 1, 1, None),
        ("pool-object", "available", "f.npu", 8, 16, "np-1"),
        ("pool-object", "deleting", "f.npu", 1, 1, None),
    ]
    got = [(r["pool_id"], r["state"], r["flavor"], r["az"], r["count"], r["node_pool"])
           for r in run.rows("pool_capacity_azs")]
    assert got == [
        ("pool-list", "available", "f.cpu", "az1", 2, None),
        ("pool-list", "available", "f.gpu", "az1", 2, None),
        ("pool-list", "available", "f.gpu", "az2", 1, None),
        ("pool-list", "creating", "f.gpu", "az2", 1, None),
        ("pool-object", "available", "f.npu", "az3", 8, "np-1"),
    ]


def test_job_flavors(run):
    run.pools(
        pool("pool-j", spec={"jobFlavors": ["modelarts.pool.visual.cpu.2u8g", "modelarts.pool.visual.cpu.4u16g",
                                            "modelarts.pool.visual.cpu.2u8g", None, "", 42]}),
        pool("pool-k", spec={"jobFlavors": "modelarts.pool.visual.cpu.2u8g"}),
    )
    run.run()
    assert [(r["pool_id"], r["job_flavor"]) for r in run.rows("pool_job_flavors")] == [
        ("pool-j", "42"),
        ("pool-j", "modelarts.pool.visual.cpu.2u8g"),
        ("pool-j", "modelarts.pool.visual.cpu.4u16g"),
    ]


# ------------------------------------------------------------------------------------------- rejections

def test_bad_bodies_are_rejected_and_neighbours_are_intact(run):
    good = run.pools(pool("pool-good-1"), project="p-good")
    run.body(b'{"items": [{"metadata": {"name": "pool-x"}}', project="p-trunc")          # truncated
    run.body(b"", project="p-empty")                                                      # empty file
    run.body(b"  \n ", project="p-blank")                                                 # white space
    run.body(b'\xff\xfe{"items": []}', project="p-utf")                                    # not UTF-8
    run.body({"apiVersion": "v2", "kind": "PoolList"}, project="p-noitems")               # no items
    run.body({"items": {"a": pool("pool-in-object")}}, project="p-itemsobj")              # items not an array
    run.body([pool("pool-in-array")], project="p-array")                                  # body is an array
    run.body("null", project="p-null")
    run.body('"just text"', source="show_pool", project="p-show-text")
    run.body({"items": []}, source="describe_pool", project="p-src")                      # unknown source
    missing = BodyRef(SID, AT, "cn-north-4", "p-missing", "list_pools", str(run.raw / "nope.json"), "resp-gone")
    run.bodies.append(missing)
    run.body({"items": []}, project="p-dir", file="dir.json")
    (run.raw / "dir.json").unlink()
    (run.raw / "dir.json").mkdir()                                                        # a directory
    run.pools(pool("pool-good-2"), project="p-good2")
    counts = run.run()
    assert counts["pools"] == 2
    assert {r["pool_id"] for r in run.rows("pools")} == {"pool-good-1", "pool-good-2"}
    got = {r["project_id"]: (r["reason"], r["item_index"], r["excerpt"]) for r in run.rows("rejected_documents")}
    assert got == {
        "p-trunc": ("body is not valid JSON", None, '{"items": [{"metadata": {"name": "pool-x"}}'),
        "p-empty": ("body is empty", None, ""),
        "p-blank": ("body is empty", None, "  \n "),
        "p-utf": ("body is not valid UTF-8 text", None, '\\xFF\\xFE{\\x22items\\x22: []}'),
        "p-noitems": ("body has no items array", None, '{"apiVersion": "v2", "kind": "PoolList"}'),
        "p-itemsobj": ("body has no items array", None, json.dumps({"items": {"a": pool("pool-in-object")}})[:200]),
        "p-array": ("body is not a JSON object", None, json.dumps([pool("pool-in-array")])[:200]),
        "p-null": ("body is not a JSON object", None, "null"),
        "p-show-text": ("body is not a JSON object", None, '"just text"'),
        "p-src": ("unknown source describe_pool", None, None),
        "p-missing": ("body file could not be read", None, None),
        "p-dir": ("body file could not be read", None, None),
    }
    rej = {r["project_id"]: r for r in run.rows("rejected_documents")}
    assert rej["p-missing"]["response_id"] == "resp-gone"
    assert rej["p-trunc"]["source"] == "list_pools"
    assert rej["p-trunc"]["snapshot_at"] == AT and rej["p-trunc"]["region"] == "cn-north-4"
    assert good.response_id == run.pool("pool-good-1")["response_id"]


def test_files_that_fail_to_read_are_rejected_and_the_rest_is_read(run, tmp_path):
    run.pools(pool("pool-before"), project="p-before")
    # stat() says "readable regular file", but reading fails: an I/O error, and a file over DuckDB's limit
    run.bodies.append(BodyRef(SID, AT, "cn-north-4", "p-eio", "list_pools", "/proc/self/mem", "resp-eio"))
    big = tmp_path / "huge.json"
    with open(big, "wb") as fh:
        fh.truncate(4 * 1024**3 + 1)  # sparse: takes no disk space
    run.bodies.append(BodyRef(SID, AT, "cn-north-4", "p-huge", "show_pool", str(big), "resp-huge"))
    run.body(pool("pool-shown"), source="show_pool", project="p-show")
    run.pools(pool("pool-after"), project="p-after")
    counts = run.run()
    assert counts["pools"] == 3
    assert {r["pool_id"] for r in run.rows("pools")} == {"pool-before", "pool-shown", "pool-after"}
    got = {r["project_id"]: (r["response_id"], r["reason"]) for r in run.rows("rejected_documents")}
    assert got == {"p-eio": ("resp-eio", "body file could not be read"),
                   "p-huge": ("resp-huge", "body file could not be read")}


def test_bad_items_are_rejected_one_by_one(run):
    huge = "x" * 5000
    run.pools(
        pool("pool-ok-0"),
        3,
        "pool-as-string",
        None,
        [pool("nested")],
        {"metadata": {}},
        {"metadata": {"name": None}},
        {"metadata": {"name": 12345}},
        {"metadata": {"name": "   "}},
        {"metadata": "pool-meta-string"},
        {"spec": {"type": "Dedicate"}},
        {"metadata": {"name": {"id": "pool-obj"}}},
        pool("pool-ok-12", spec="garbage", status=[1, 2]),
        {"metadata": {"name": "", "labels": {"k": huge}}},
    )
    run.run()
    assert [r["pool_id"] for r in run.rows("pools")] == ["pool-ok-0", "pool-ok-12"]
    got = [(r["item_index"], r["reason"], r["excerpt"]) for r in run.rows("rejected_documents", order="item_index")]
    assert got == [
        (1, "item is not an object", "3"),
        (2, "item is not an object", '"pool-as-string"'),
        (3, "item is not an object", "null"),
        (4, "item is not an object", json.dumps([pool("nested")], separators=(",", ":"))[:200]),
        (5, "pool has no metadata.name", '{"metadata":{}}'),
        (6, "pool has no metadata.name", '{"metadata":{"name":null}}'),
        (7, "pool has no metadata.name", '{"metadata":{"name":12345}}'),
        (8, "pool has no metadata.name", '{"metadata":{"name":"   "}}'),
        (9, "pool has no metadata.name", '{"metadata":"pool-meta-string"}'),
        (10, "pool has no metadata.name", '{"spec":{"type":"Dedicate"}}'),
        (11, "pool has no metadata.name", '{"metadata":{"name":{"id":"pool-obj"}}}'),
        (13, "pool has no metadata.name", ('{"metadata":{"name":"","labels":{"k":"' + huge)[:200]),
    ]
    assert all(len(e) <= 200 for _, _, e in got)


def test_duplicates_keep_the_first_and_reject_the_rest(run):
    run.pools(pool("pool-a", spec={"type": "Dedicate"}), pool("pool-b"), pool("pool-a", spec={"type": "Logical"}),
              project="p1")
    run.pools(pool("pool-a", spec={"type": "Other"}), project="p1")                          # same project again
    run.pools(pool("pool-a", spec={"type": "Logical"}), project="p2")                        # other project: kept
    run.body(pool("pool-b"), source="show_pool", project="p1")                               # show after list
    run.pools(pool("pool-a"), project="p1", snapshot_id="20261128T070000Z")                  # other snapshot: kept
    counts = run.run()
    assert counts["pools"] == 4
    got = sorted((r["snapshot_id"], r["project_id"], r["pool_id"], r["pool_type"], r["response_id"])
                 for r in run.rows("pools"))
    assert got == [
        (SID, "p1", "pool-a", "Dedicate", "resp-000"),
        (SID, "p1", "pool-b", None, "resp-000"),
        (SID, "p2", "pool-a", "Logical", "resp-002"),
        ("20261128T070000Z", "p1", "pool-a", None, "resp-004"),
    ]
    rej = [(r["response_id"], r["item_index"], r["pool_id"], r["reason"], r["kept_response_id"], r["kept_item_index"])
           for r in run.rows("rejected_documents", order="response_id, item_index")]
    assert rej == [
        ("resp-000", 2, "pool-a", "duplicate pool id in snapshot", "resp-000", 0),
        ("resp-001", 0, "pool-a", "duplicate pool id in snapshot", "resp-000", 0),
        ("resp-003", None, "pool-b", "duplicate pool id in snapshot", "resp-000", 1),
    ]
    dup = run.rows("rejected_documents", "response_id = 'resp-001'")[0]
    assert dup["excerpt"].startswith('{"kind":"Pool"') and '"Other"' in dup["excerpt"]
    # the kept documents' child rows are not doubled
    assert len(run.rows("pool_labels")) == 0
    assert [r["pool_id"] for r in run.rows("pools", "pool_type = 'Dedicate'")] == ["pool-a"]


def test_wrong_types_become_nulls_never_errors(run):
    run.pools(
        pool("pool-types",
             metadata={"name": "pool-types", "creationTimestamp": {"t": 1}, "labels": {"os.modelarts/name": 5}},
             spec={"type": ["Dedicate"], "scope": "Train", "resources": {"flavor": "f"}, "network": ["n"],
                   "jobFlavors": {"a": 1}, "driver": "none", "controlMode": [8]},
             status={"phase": 3, "message": {"code": 1}, "parent": 0, "root": False, "resources": [1, 2],
                     "scope": {"scopeType": "Train"}, "driver": {"gpu": "Running", "npu": None}}),
        pool("pool-neighbour", spec={"type": "Dedicate"}),
    )
    counts = run.run()
    assert counts["pools"] == 2 and counts["rejected_documents"] == 0
    p = run.pool("pool-types")
    assert (p["display_name"], p["pool_type"], p["phase"], p["message"], p["parent"], p["root"], p["is_physical"],
            p["created_at"], p["control_mode"], p["network_name"], p["gpu_driver_state"]) == (
        "5", '["Dedicate"]', "3", '{"code":1}', "0", "false", False, None, None, None, None)
    for table in ("pool_scopes", "pool_resources", "pool_resource_azs", "pool_capacity", "pool_capacity_azs",
                  "pool_job_flavors"):
        assert run.rows(table) == [], table
    assert run.pool("pool-neighbour")["pool_type"] == "Dedicate"


def test_show_pool_bodies_and_list_bodies_together(run):
    run.body(pool("pool-shown", spec={"type": "Logical"}, status={"parent": "pool-p"}), source="show_pool",
             project="p9")
    run.pools(pool("pool-listed"), project="p9")
    run.body(b'  {"metadata": {"name": "pool-padded"}}  \n', source="show_pool", project="p9")
    run.body(b'{"metadata": {"name": "pool-trailing"}} x', source="show_pool", project="p9")
    run.run()
    got = {r["pool_id"]: (r["source"], r["is_physical"]) for r in run.rows("pools")}
    assert got == {"pool-shown": ("show_pool", False), "pool-listed": ("list_pools", True),
                   "pool-padded": ("show_pool", True)}
    assert [(r["reason"], r["item_index"]) for r in run.rows("rejected_documents")] == [
        ("body is not valid JSON", None)]


def test_list_metadata_and_unknown_fields_are_tolerated(run):
    run.body({"apiVersion": "v2", "kind": "PoolList", "metadata": {"continue": "", "remainingItemCount": 0},
              "items": [pool("pool-u", extra={"deep": [[[{"x": 1}]]]},
                             spec={"type": "Dedicate", "kubernetesSvcIpRange": "10.247.0.0/16",
                                   "resources": [{"flavor": "f", "count": 1, "dataVolumes": [{"size": "100"}],
                                                  "volumeGroupConfigs": {"volumeGroup": "vgpaas"}}]},
                             status={"clusters": {"name": "c"}})],
              "unknown": True})
    counts = run.run()
    assert counts["pools"] == 1 and counts["pool_resources"] == 1 and counts["rejected_documents"] == 0


def test_same_file_listed_twice_is_read_for_each_ref(run):
    ref = run.pools(pool("pool-twice"), project="p1")
    run.bodies.append(BodyRef(SID, AT, "eu-west-101", "p2", "list_pools", ref.path, "resp-again"))
    run.run()
    assert sorted((r["region"], r["project_id"], r["response_id"]) for r in run.rows("pools")) == [
        ("cn-north-4", "p1", "resp-000"), ("eu-west-101", "p2", "resp-again")]


def test_deeply_nested_and_huge_values(run):
    deep = "[" * 5000 + "]" * 5000
    big = "é" * 200_000
    raw = ('{"items":[{"metadata":{"name":"pool-deep","labels":{"deep":' + deep + ',"big":"' + big + '"}},'
           '"spec":{"type":"' + big + '","resources":' + deep + '}},'
           '{"metadata":{"name":"pool-next"}}]}')
    run.body(raw)
    run.run()
    assert {r["pool_id"] for r in run.rows("pools")} == {"pool-deep", "pool-next"}
    labels = {r["key"]: r["value"] for r in run.rows("pool_labels")}
    assert labels["deep"] == deep and labels["big"] == big
    assert run.pool("pool-deep")["pool_type"] == big


def test_snapshot_at_and_context_columns_everywhere(run):
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    run.pools(pool("pool-c", metadata={"name": "pool-c", "labels": {"k": "v"},
                                       "annotations": {"os.modelarts/flavor.resource.ids": '{"f":"r"}'}},
                   spec={"scope": ["Train"], "jobFlavors": ["j"], "resources": [{"flavor": "f", "azs": [{"az": "a"}]}]},
                   status={"resources": {"available": [{"flavor": "f", "azs": [{"az": "a", "count": 1}]}]}}),
              region="ap-southeast-1", project="0123456789abcdef0123456789abcdef", snapshot_id="20260102T030405Z",
              snapshot_at=at)
    counts = run.run()
    expected = {t: 1 for t in TABLES} | {"rejected_documents": 0}
    assert counts == expected
    for table in TABLES:
        rows = run.rows(table)
        assert len(rows) == expected[table], table
        for r in rows:
            assert (r["snapshot_id"], r["snapshot_at"], r["region"], r["project_id"], r["pool_id"]) == (
                "20260102T030405Z", at, "ap-southeast-1", "0123456789abcdef0123456789abcdef", "pool-c"), table
