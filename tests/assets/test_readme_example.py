"""README's example of a user's own asset downstream of poolscope, run as written: the block is taken from
README.md, loaded as a module, its definitions merged with poolscope's, and its asset materialized against a
real catalog."""

import importlib.util
import re
from pathlib import Path

import dagster as dg

from lakekit import pool_doc, publish_snapshot, utc

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("**Your own assets downstream.**"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_downstream_asset_runs_as_written(tmp_path, monkeypatch):
    publish_snapshot(tmp_path / "data", utc(2026, 11, 1, 0), {("cn-north-4", "p1"): [
        pool_doc("pool-a", available={"f1": 2}), pool_doc("pool-b", available={"f1": 3})]})
    publish_snapshot(tmp_path / "data", utc(2026, 11, 1, 1), {("cn-north-4", "p1"): [
        pool_doc("pool-a", available={"f1": 4}), pool_doc("pool-b", available={"f1": 3})]})
    module_file = tmp_path / "my_assets.py"
    module_file.write_text(_example(), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # the example reads data/inventory.duckdb, as from a project folder
    monkeypatch.delenv("POOLSCOPE_CONFIG", raising=False)
    spec = importlib.util.spec_from_file_location("my_assets", module_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    graph = module.defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("available_nodes_now")).parent_keys == {dg.AssetKey("inventory_catalog")}
    result = dg.materialize([module.available_nodes_now])
    metadata = result.asset_materializations_for_node("available_nodes_now")[0].metadata
    assert metadata["pools"].value == 2 and metadata["nodes"].value == 7  # the latest snapshot only: 4 + 3
