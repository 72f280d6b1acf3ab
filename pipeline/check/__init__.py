"""Step check: the data checks over a staged snapshot (sql/checks/)."""
