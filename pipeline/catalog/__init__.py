"""Step catalog: inventory.duckdb, documented views over the lake (sql/catalog/), and the table docs."""
