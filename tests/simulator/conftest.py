import pytest

from pipeline.simulator import SimulatorConfig, run_simulator


@pytest.fixture
def sim():
    with run_simulator(SimulatorConfig(projects=3, pools_per_project=6, seed=7)) as s:
        yield s
