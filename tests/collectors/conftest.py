import pytest

from apps.collectors.simulator.config import SimulatorConfig
from apps.collectors.simulator.server import run_in_thread

# A fast simulated clock and frequent pushes, so simulator tests take seconds.
FAST = {"port": 0, "speed": 600, "update_interval": 0.02, "ctx_interval": 0.05, "seed": 42}


@pytest.fixture
def simulator():
    """Start simulators (``simulator(**config overrides)``) on free ports; all stopped afterwards."""
    handles = []

    def start(**overrides):
        handles.append(run_in_thread(SimulatorConfig(**{**FAST, **overrides})))
        return handles[-1]

    yield start
    for handle in handles:
        handle.stop()
