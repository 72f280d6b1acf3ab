"""Dagster resources, configured from the file POOLSCOPE_CONFIG names (or a path bound in process).

The file is read once per run, when Dagster sets the resource up (`setup_for_execution`), into the typed config
model (pipeline/config.py); assets then read `config()` / `layout()` without touching the file again, so one
run sees one config even if the file changes under it. A bad file fails the resource's set-up with the file and
the key named.

`modelarts`: the live API (targets, fetch settings, and credentials from the run's environment).
`lake`: the storage root (raw landing, Parquet tables, catalog).
"""

import os

import dagster as dg
from pydantic import PrivateAttr

from pipeline.config import Config, load_config
from pipeline.lake.layout import Layout
from pipeline.modelarts import Credentials


class _FromConfigFile(dg.ConfigurableResource):
    config_path: str
    _config: Config | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._config = load_config(self.config_path)

    def config(self) -> Config:
        if self._config is None:  # used outside a run (a direct call in a test or a notebook)
            self._config = load_config(self.config_path)
        return self._config


class ModelArtsResource(_FromConfigFile):
    """What to fetch and how: the config's targets, discovery and fetch settings, plus credentials."""

    def credentials(self) -> Credentials:
        from pipeline.land.step import load_credentials

        return load_credentials(self.config(), os.environ)


class LakeResource(_FromConfigFile):
    """Where snapshots are landed, normalized and catalogued."""

    def layout(self) -> Layout:
        return self.config().layout()


def resources_from_env(env_var: str) -> dict[str, dg.ConfigurableResource]:
    path = dg.EnvVar(env_var)
    return {"modelarts": ModelArtsResource(config_path=path), "lake": LakeResource(config_path=path)}


def resources_for(config_path: str) -> dict[str, dg.ConfigurableResource]:
    return {"modelarts": ModelArtsResource(config_path=config_path), "lake": LakeResource(config_path=config_path)}
