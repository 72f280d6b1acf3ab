"""Dagster resources, both configured from the file POOLSCOPE_CONFIG names and read when a run starts.

`modelarts`: the live API (targets, fetch settings, and credentials from the run's environment).
`lake`: the storage root (raw landing, Parquet tables, catalog).
"""

import os

import dagster as dg

from pipeline.config import Config, load_config
from pipeline.lake.layout import Layout
from pipeline.modelarts import Credentials


class _FromConfigFile(dg.ConfigurableResource):
    config_path: str

    def config(self) -> Config:
        return load_config(self.config_path)


class ModelArtsResource(_FromConfigFile):
    """What to fetch and how: the config's targets, discovery and fetch settings, plus credentials."""

    def credentials(self) -> Credentials:
        from pipeline.snapshot import load_credentials

        return load_credentials(self.config(), os.environ)


class LakeResource(_FromConfigFile):
    """Where snapshots are landed, normalized and catalogued."""

    def layout(self) -> Layout:
        return Layout(self.config().root)


def resources_from_env(env_var: str) -> dict[str, dg.ConfigurableResource]:
    path = dg.EnvVar(env_var)
    return {"modelarts": ModelArtsResource(config_path=path), "lake": LakeResource(config_path=path)}


def resources_for(config_path: str) -> dict[str, dg.ConfigurableResource]:
    return {"modelarts": ModelArtsResource(config_path=config_path), "lake": LakeResource(config_path=config_path)}
