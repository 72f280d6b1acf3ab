"""Dagster code location. Assets arrive with the snapshot pipeline; loading must stay cheap and side-effect free."""

import dagster as dg

defs = dg.Definitions()
