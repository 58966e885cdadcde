"""Shared pytest fixtures for the integration tests.

Fixtures (function-scoped; every simulator process they start is stopped at the end):
  sim          -- a started Simulator. By default it serves the demo studio
                  (scripts/sim/data/demo.json); a test chooses otherwise with
                  @pytest.mark.sim(data=<path|dict>, faults=["latency=20", ...], bandwidth=N).
  demo_sim     -- a started Simulator serving the demo studio.
  sim_factory  -- sim_factory(data=None, faults=(), bandwidth=None, extra_args=()) -> started
                  Simulator; for tests that need several, or decide the data at run time.

Simulator methods: .ftrack_url, .accsyn_addr, .accsyn_port, .storage, .api(ops, user=, key=),
.raw_api(body, ...), .query(expr), .rows(expr), .log(), .clear_log(), .set_faults(**kw),
.get_faults(), .changes(since), .health(), .path_of(party, *parts), .stop().
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
for p in (REPO_ROOT, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

from simulator import (ALICE, DEMO_DATA, EMPTY_STUDIO, JENKINS, JENKINS_ID,  # noqa: E402,F401
                       Simulator, SimulatorError)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "sim(data=None, faults=(), bandwidth=None, extra_args=()): how the `sim` fixture "
        "starts the simulator (data: a path, a dict, or None for the demo studio)")


@pytest.fixture
def sim_factory():
    started = []

    def start(data=None, faults=(), bandwidth=None, extra_args=()):
        s = Simulator(data=data, faults=faults, bandwidth=bandwidth, extra_args=extra_args)
        started.append(s)
        return s.start()

    try:
        yield start
    finally:
        for s in started:
            s.stop()


@pytest.fixture
def sim(request, sim_factory):
    marker = request.node.get_closest_marker("sim")
    kw = dict(marker.kwargs) if marker else {}
    return sim_factory(**kw)


@pytest.fixture
def demo_sim(sim_factory):
    return sim_factory()
