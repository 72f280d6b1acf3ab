"""Pool JSON helpers: list envelopes with or without metadata, both shapes of status.resources."""

import logging

import pytest

from pipeline.modelarts.pools import PoolShapeError, as_list, capacity, flavor_counts, pool_id, pool_items

DOC_POOL = {
    "kind": "Pool",
    "apiVersion": "v2",
    "metadata": {"name": "auto-pool-os-86c13962597848eeb29c5861153a391f", "labels": {"x.future/label": "1"}},
    "status": {
        "phase": "Running",
        "resources": {
            "available": [
                {"flavor": "modelarts.vm.cpu.4ud", "count": 2, "azs": [{"az": "az-7c", "count": 2}], "futureKey": {"a": 1}},
                {"flavor": "modelarts.vm.gpu.tnt004", "count": 1},
            ],
            "creating": [],
        },
    },
}
SDK_POOL = {
    "metadata": {"name": "pool-b"},
    "status": {"resources": {"available": {"flavor": "modelarts.vm.cpu.4ud", "count": 3, "nodePool": "np1"}, "abnormal": {}}},
}


def test_pool_items_plain_and_with_metadata(caplog):
    items = pool_items({"apiVersion": "v2", "kind": "PoolList", "items": [DOC_POOL, SDK_POOL]})
    assert items == [DOC_POOL, SDK_POOL] and not items.truncated
    assert pool_items({"kind": "PoolList"}) == []  # the service omits an empty list
    final = pool_items({"items": [DOC_POOL], "metadata": {}})
    assert not final.truncated
    with caplog.at_level(logging.WARNING):
        more = pool_items({"items": [DOC_POOL], "metadata": {"continue": "tok", "remainingItemCount": 4}})
    assert more == [DOC_POOL] and more.truncated
    assert (more.continue_token, more.remaining_item_count) == ("tok", 4)
    assert "incomplete" in caplog.text


@pytest.mark.parametrize("body", [[], {"items": {"a": 1}}, {"items": [1]}, {"items": "x"}])
def test_pool_items_rejects_bad_shapes(body):
    with pytest.raises(PoolShapeError):
        pool_items(body)


def test_flavor_counts_array_shape_keeps_unknown_fields():
    counts = flavor_counts(DOC_POOL, "available")
    assert [c["flavor"] for c in counts] == ["modelarts.vm.cpu.4ud", "modelarts.vm.gpu.tnt004"]
    assert counts[0]["futureKey"] == {"a": 1} and counts[0]["azs"] == [{"az": "az-7c", "count": 2}]
    assert flavor_counts(DOC_POOL, "creating") == []
    assert flavor_counts(DOC_POOL, "deleting") == []


def test_flavor_counts_object_shape():
    assert flavor_counts(SDK_POOL, "available") == [{"flavor": "modelarts.vm.cpu.4ud", "count": 3, "nodePool": "np1"}]
    assert flavor_counts(SDK_POOL, "abnormal") == []  # an empty SDK object means nothing in that state
    assert capacity(SDK_POOL)["available"][0]["count"] == 3


def test_flavor_counts_edge_cases():
    assert flavor_counts({"metadata": {"name": "x"}}, "available") == []
    with pytest.raises(ValueError):
        flavor_counts(DOC_POOL, "running")
    with pytest.raises(PoolShapeError):
        flavor_counts({"status": {"resources": {"available": [1]}}}, "available")
    with pytest.raises(PoolShapeError):
        as_list("text")


def test_pool_id():
    assert pool_id(DOC_POOL) == "auto-pool-os-86c13962597848eeb29c5861153a391f"
    assert pool_id({"metadata": {}}) is None
