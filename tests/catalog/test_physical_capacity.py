"""physical_capacity: the safe sum of nodes. A Logical sub-pool's nodes are carved out of its parent's, so
summing pool_capacity over every pool counts them twice (the demo's own example did: 290 available, not 256)."""

import duckdb

from lakekit import pool_doc, publish_snapshot, utc


def test_physical_capacity_counts_a_sub_pools_nodes_once(tmp_path):
    # By hand: the physical pool has 4 + 2 available f1/f2 nodes and 1 abnormal f1; its logical sub-pool shows
    # 3 of the parent's f1 nodes as available; another project's physical pool has 5 available f1.
    publish_snapshot(tmp_path, utc(2026, 11, 1, 0), {
        ("r1", "p1"): [pool_doc("phys", available={"f1": 4, "f2": 2}, abnormal={"f1": 1}),
                       pool_doc("sub", pool_type="Logical", parent="phys", available={"f1": 3})],
        ("r1", "p2"): [pool_doc("other", available={"f1": 5})],
    })
    con = duckdb.connect(str(tmp_path / "inventory.duckdb"), read_only=True)
    try:
        naive = con.execute("SELECT state, sum(count) FROM pool_capacity GROUP BY ALL ORDER BY 1").fetchall()
        safe = con.execute("SELECT state, sum(count) FROM physical_capacity GROUP BY ALL ORDER BY 1").fetchall()
        pools = {r[0] for r in con.execute("SELECT DISTINCT pool_id FROM physical_capacity").fetchall()}
        per_project = con.execute("SELECT project_id, sum(count) FROM physical_capacity WHERE state = 'available' "
                                  "GROUP BY ALL ORDER BY 1").fetchall()
        comment = con.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'physical_capacity'").fetchall()
    finally:
        con.close()
    assert naive == [("abnormal", 1), ("available", 14)]  # the sub-pool's 3 counted twice
    assert safe == [("abnormal", 1), ("available", 11)]
    assert pools == {"phys", "other"}
    assert per_project == [("p1", 6), ("p2", 5)]
    assert "sub-pool" in comment[0][0]
