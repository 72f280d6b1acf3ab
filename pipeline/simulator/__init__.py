"""A faithful local simulator of the ModelArts pool API and the IAM calls around it (reference section 8).

Import the in-process API from here; `cli.py` wraps it as `poolscope simulator`.
"""

from pipeline.simulator.app import RequestRecord
from pipeline.simulator.evolve import Change
from pipeline.simulator.faults import FAULT_KINDS, Faults
from pipeline.simulator.fleet import Fleet
from pipeline.simulator.generate import generate_pools, generate_pools_jsonl
from pipeline.simulator.projects import ProjectInfo
from pipeline.simulator.runner import DEMO_AK, DEMO_SK, Simulator, SimulatorConfig, run_simulator

__all__ = [
    "DEMO_AK",
    "DEMO_SK",
    "FAULT_KINDS",
    "Change",
    "Faults",
    "Fleet",
    "ProjectInfo",
    "RequestRecord",
    "Simulator",
    "SimulatorConfig",
    "generate_pools",
    "generate_pools_jsonl",
    "run_simulator",
]
