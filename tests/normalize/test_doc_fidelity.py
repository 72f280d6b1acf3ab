"""The published documentation's shapes that poolscope used to read wrongly (issue 17): the default workspace of
an unlabelled pool, a Logical pool before its status arrives, scope dependency annotations and the flavor ->
resource id annotation. Documents are the docs' examples (OTC api-ref, resource_pool_management) or cut to the
field under test; expectations are written out by hand."""

import json

from normalize.test_normalize import Run, pool, run, strip_ctx  # noqa: F401  (run: the fixture)

# The ShowPool example's dependency annotation, byte for byte as the docs print it (a JSON string in a string).
TRAIN_DEP = ('{"type":"Enabled","status":"True","message":"","network_access":'
             '{"type":"Enabled","status":"True","message":""}}')
# The create-pool response example: the resource ids of its flavors (a JSON object in a string).
RESOURCE_IDS = '{"modelarts.vm.cpu.8ud":"maos.vm.cpu.8ud.1976103046"}'


def create_response(name: str, pool_type: str, status: dict) -> dict:
    """The CreatePool response example's shape (docs, 2024-10): labels with the workspace, an empty status."""
    return {
        "kind": "Pool", "apiVersion": "v2",
        "metadata": {"name": name, "creationTimestamp": "2024-10-24T12:42:43Z",
                     "labels": {"os.modelarts/name": "pool-ae01", "os.modelarts/workspace.id": "0"},
                     "annotations": {"os.modelarts/billing.mode": "0", "os.modelarts.pool/subpools.count": "0",
                                     "os.modelarts/flavor.resource.ids": RESOURCE_IDS}},
        "spec": {"type": pool_type, "scope": ["Train"],
                 "resources": [{"flavor": "modelarts.vm.cpu.8ud", "count": 1, "maxCount": 1}]},
        "status": status,
    }


def test_absent_workspace_label_is_the_default_workspace_marked_assumed(run):
    run.pools(
        pool("pool-nolabel", metadata={"name": "pool-nolabel", "labels": {"os.modelarts/name": "a"}}),
        pool("pool-nolabels", metadata={"name": "pool-nolabels"}),
        pool("pool-null", metadata={"name": "pool-null", "labels": {"os.modelarts/workspace.id": None}}),
        pool("pool-zero", metadata={"name": "pool-zero", "labels": {"os.modelarts/workspace.id": "0"}}),
        pool("pool-ws", metadata={"name": "pool-ws", "labels": {"os.modelarts/workspace.id": "b" * 32}}),
        pool("pool-blank", metadata={"name": "pool-blank", "labels": {"os.modelarts/workspace.id": ""}}),
    )
    run.run()
    got = {r["pool_id"]: (r["workspace_id"], r["workspace_id_assumed"]) for r in run.rows("pools")}
    assert got == {
        "pool-nolabel": ("0", True), "pool-nolabels": ("0", True), "pool-null": ("0", True),
        "pool-zero": ("0", False), "pool-ws": ("b" * 32, False),
        "pool-blank": ("", False),  # a label that is there is taken as given, even empty
    }
    assert [r["pool_id"] for r in run.rows("pools", "workspace_id = '0'", "pool_id")] == [
        "pool-nolabel", "pool-nolabels", "pool-null", "pool-zero"]


def test_logical_pool_is_never_physical_even_with_an_empty_status(run):
    run.pools(
        create_response("pool-new-logical", "Logical", {}),
        create_response("pool-new-logical-res", "Logical", {"resources": {}}),
        create_response("pool-new-dedicate", "Dedicate", {"resources": {}}),
        # status filled in, parent not yet: still a sub-pool
        pool("pool-logical-noparent", spec={"type": "Logical"},
             status={"phase": "Running", "resources": {"available": [{"flavor": "f1", "count": 3}]}}),
        pool("pool-logical-parent", spec={"type": "Logical"}, status={"parent": "pool-p", "root": "pool-p"}),
        pool("pool-p", spec={"type": "Dedicate"}, status={"root": "pool-p"}),
        pool("pool-untyped", status={}),
    )
    run.run()
    got = {r["pool_id"]: (r["pool_type"], r["phase"], r["parent"], r["is_physical"]) for r in run.rows("pools")}
    assert got == {
        "pool-new-logical": ("Logical", None, None, False),
        "pool-new-logical-res": ("Logical", None, None, False),
        "pool-new-dedicate": ("Dedicate", None, None, True),
        "pool-logical-noparent": ("Logical", "Running", None, False),
        "pool-logical-parent": ("Logical", None, "pool-p", False),
        "pool-p": ("Dedicate", None, None, True),
        "pool-untyped": (None, None, None, True),  # no type, no parent: nothing says it is a sub-pool
    }
    assert run.rows("rejected_documents") == []


DEP_COLUMNS = ("dependency_raw", "dependency_readable", "dependency_type", "dependency_status",
               "dependency_message", "network_access_type", "network_access_status", "network_access_message")


def scopes(run: Run, pool_id: str) -> dict[str, tuple]:
    return {r["scope_type"]: (r["requested"], r["state"], *(r[c] for c in DEP_COLUMNS))
            for r in run.rows("pool_scopes", f"pool_id = '{pool_id}'")}


def test_scope_dependency_annotations_are_parsed_per_scope(run):
    infer_dep = json.dumps({"type": "Disabled", "status": "False", "message": "vpc endpoint missing",
                            "network_access": {"type": "Disabled", "status": "False", "message": "no route"}})
    notebook_dep = '{"type":"Enabled","status":"True","message":"","network_access":null,"extra":1}'
    run.pools(
        # The ShowPool doc example: Train's dependency, Train and Infer requested and enabled.
        pool("pool-doc", metadata={"name": "pool-doc", "annotations": {
                 "os.modelarts/description": "", "os.modelarts/external-access": "elb",
                 "os.modelarts.pool/scope.external.dependency.Train": TRAIN_DEP,
                 "os.modelarts.pool/scope.external.dependency.Infer": infer_dep,
                 # a scope neither side lists: it gets a row of its own
                 "os.modelarts.pool/scope.external.dependency.Notebook": notebook_dep}},
             spec={"scope": ["Train", "Infer"]},
             status={"scope": [{"scopeType": "Train", "state": "Enabled"}, {"scopeType": "Infer", "state": "Enabled"}]}),
        # The SDK's lower-case key: matched to the scope in any letter case.
        pool("pool-sdk", metadata={"name": "pool-sdk", "annotations": {
                 "os.modelarts.pool/scope.external.dependency.train": TRAIN_DEP}},
             spec={"scope": ["Train"]}),
        # Both spellings: the exact one wins.
        pool("pool-both", metadata={"name": "pool-both", "annotations": {
                 "os.modelarts.pool/scope.external.dependency.train": infer_dep,
                 "os.modelarts.pool/scope.external.dependency.Train": TRAIN_DEP}},
             spec={"scope": ["Train"]}),
        # Malformed: kept raw, not read, a warning; the scope's other columns are unaffected.
        pool("pool-bad", metadata={"name": "pool-bad", "annotations": {
                 "os.modelarts.pool/scope.external.dependency.Train": '{"type":"Enabled",',
                 "os.modelarts.pool/scope.external.dependency.Infer": '"Enabled"'}},
             spec={"scope": ["Train", "Infer"]}, status={"scope": [{"scopeType": "Train", "state": "Enabling"}]}),
        pool("pool-none", spec={"scope": ["Train"]}),
    )
    run.run()
    enabled = (TRAIN_DEP, True, "Enabled", "True", "", "Enabled", "True", "")
    assert scopes(run, "pool-doc") == {
        "Train": (True, "Enabled", *enabled),
        "Infer": (True, "Enabled", infer_dep, True, "Disabled", "False", "vpc endpoint missing",
                  "Disabled", "False", "no route"),
        "Notebook": (False, None, notebook_dep, True, "Enabled", "True", "", None, None, None),
    }
    assert scopes(run, "pool-sdk") == {"Train": (True, None, *enabled)}
    assert scopes(run, "pool-both") == {"Train": (True, None, *enabled)}
    assert scopes(run, "pool-bad") == {
        "Train": (True, "Enabling", '{"type":"Enabled",', False, None, None, None, None, None, None),
        "Infer": (True, None, '"Enabled"', False, None, None, None, None, None, None),
    }
    assert scopes(run, "pool-none") == {"Train": (True, None, *(None,) * 8)}
    warnings = strip_ctx(run.rows("rejected_documents", order="excerpt"), "response_id", "snapshot_at")
    assert warnings == [
        {"source": "list_pools", "item_index": 3, "reason": "annotation is not a JSON object (kept raw)",
         "severity": "warning", "documents": 1, "kept_response_id": None, "kept_item_index": None,
         "excerpt": 'os.modelarts.pool/scope.external.dependency.Infer = "Enabled"'},
        {"source": "list_pools", "item_index": 3, "reason": "annotation is not a JSON object (kept raw)",
         "severity": "warning", "documents": 1, "kept_response_id": None, "kept_item_index": None,
         "excerpt": 'os.modelarts.pool/scope.external.dependency.Train = {"type":"Enabled",'},
    ]
    assert [r["pool_id"] for r in run.rows("rejected_documents")] == ["pool-bad", "pool-bad"]
    # Warnings are not rejections: every document was used.
    assert len(run.rows("pools")) == 5


def test_flavor_resource_ids_become_rows_and_a_malformed_one_a_warning(run):
    run.pools(
        create_response("pool-created", "Dedicate", {"resources": {}}),
        pool("pool-two", metadata={"name": "pool-two", "annotations": {
            "os.modelarts/flavor.resource.ids": '{"modelarts.vm.gpu.ant8":"r-1","modelarts.vm.cpu.8ud":"r-2"}'}}),
        pool("pool-odd", metadata={"name": "pool-odd", "annotations": {
            "os.modelarts/flavor.resource.ids": '{"f.num":7,"f.null":null}'}}),
        pool("pool-bad", metadata={"name": "pool-bad", "annotations": {
            "os.modelarts/flavor.resource.ids": "modelarts.vm.cpu.8ud=r-9"}}),
        pool("pool-empty", metadata={"name": "pool-empty", "annotations": {
            "os.modelarts/flavor.resource.ids": "{}"}}),
        pool("pool-none"),
    )
    run.run()
    got = [(r["pool_id"], r["flavor"], r["resource_id"])
           for r in run.rows("pool_flavor_resources", order="pool_id, flavor")]
    assert got == [
        ("pool-created", "modelarts.vm.cpu.8ud", "maos.vm.cpu.8ud.1976103046"),
        ("pool-odd", "f.null", None),
        ("pool-odd", "f.num", "7"),
        ("pool-two", "modelarts.vm.cpu.8ud", "r-2"),
        ("pool-two", "modelarts.vm.gpu.ant8", "r-1"),
    ]
    rejected = run.rows("rejected_documents")
    assert [(r["pool_id"], r["item_index"], r["severity"], r["reason"], r["excerpt"]) for r in rejected] == [
        ("pool-bad", 3, "warning", "annotation is not a JSON object (kept raw)",
         "os.modelarts/flavor.resource.ids = modelarts.vm.cpu.8ud=r-9")]
    # The raw value stays where it always was.
    assert run.rows("pool_annotations", "pool_id = 'pool-bad'")[0]["value"] == "modelarts.vm.cpu.8ud=r-9"


# ------------------------------------------------------------------------------------------- flavor storage

def test_flavor_data_disks_are_read_from_both_keys(tmp_path):
    import duckdb
    from lakekit import flavor_doc, publish_snapshot, utc

    def with_disks(name: str, key: str | None, disks) -> dict:
        doc = flavor_doc(name)
        if key is not None:
            doc["spec"][key] = disks
        return doc

    catalog = [
        # the docs' ListResourceFlavors example: dataVolumes, an array, size with its unit
        with_disks("modelarts.vm.cpu8u32g", "dataVolumes", [{"volumeType": "SSD", "size": "500Gi"}]),
        # the SDK's key, an array too (ResourceFlavorSpec.data_volume: list)
        with_disks("f.sdk", "dataVolume", [{"volumeType": "GPSSD", "size": "100Gi"}]),
        # one disk object instead of an array; a bare number is GiB (the docs' unit)
        with_disks("f.object", "dataVolume", {"volumeType": "SAS", "size": "200"}),
        # two disks, one in Ti; junk elements are not disks
        with_disks("f.two", "dataVolumes", [{"volumeType": "SSD", "size": "1Ti"}, "junk",
                                            {"volumeType": "SATA", "size": "512Mi"}]),
        with_disks("f.badsize", "dataVolumes", [{"volumeType": "SSD", "size": "lots"}, {"size": "10"}]),
        with_disks("f.none", None, None),
        with_disks("f.null", "dataVolumes", None),
    ]
    publish_snapshot(tmp_path, utc(2026, 11, 1, 0), {("r1", "p1"): []}, flavors={("r1", "p1"): catalog})
    con = duckdb.connect(str(tmp_path / "inventory.duckdb"), read_only=True)
    try:
        got = con.execute("SELECT flavor, data_volume_key, data_volume_type, data_volume_size_gib, "
                          "data_volume_count, data_volume_total_gib FROM flavors ORDER BY flavor").fetchall()
        comments = dict(con.execute("SELECT column_name, comment FROM duckdb_columns() "
                                    "WHERE table_name = 'flavors' AND column_name LIKE 'data_volume%'").fetchall())
    finally:
        con.close()
    assert got == [
        ("f.badsize", "dataVolumes", "SSD", None, 2, None),
        ("f.none", None, None, None, None, None),
        ("f.null", None, None, None, None, None),
        ("f.object", "dataVolume", "SAS", 200.0, 1, 200.0),
        ("f.sdk", "dataVolume", "GPSSD", 100.0, 1, 100.0),
        ("f.two", "dataVolumes", "SSD", 1024.0, 2, 1024.5),
        ("modelarts.vm.cpu8u32g", "dataVolumes", "SSD", 500.0, 1, 500.0),
    ]
    assert set(comments) == {"data_volume_key", "data_volume_type", "data_volume_size_gib", "data_volume_count",
                             "data_volume_total_gib"} and all(comments.values())


def test_simulator_flavors_carry_both_documented_shapes():
    from pipeline.simulator.catalog import FLAVORS, resource_flavor_doc

    keys = {name: {k for k in ("dataVolume", "dataVolumes") if k in resource_flavor_doc(f, ("az1",))["spec"]}
            for name, f in FLAVORS.items()}
    assert set().union(*keys.values()) == {"dataVolume", "dataVolumes"}
    assert all(len(k) == 1 for k in keys.values())
