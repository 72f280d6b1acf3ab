"""Dagster resources: the poolscope configuration, read at run time from the file POOLSCOPE_CONFIG names."""

import os

import dagster as dg

from pipeline.config import Config, load_config
from pipeline.lake.layout import Layout
from pipeline.modelarts import Credentials


class PoolscopeResource(dg.ConfigurableResource):
    """The config file and, through it, the lake and the credentials (from the run's environment)."""

    config_path: str

    def load(self) -> Config:
        return load_config(self.config_path)

    def layout(self) -> Layout:
        return Layout(self.load().root)

    def credentials(self, config: Config) -> Credentials:
        from pipeline.snapshot import load_credentials

        return load_credentials(config, os.environ)
