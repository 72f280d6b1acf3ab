"""Step normalize: a sealed raw set into the snapshot's table files (sql/normalize/)."""
