"""Dagster assets, checks and schedules of poolscope."""
