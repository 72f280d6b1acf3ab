"""Step history: pool_changes and pool_versions, folded forward one snapshot at a time (sql/history/)."""
