"""One real Prefect server for the whole session, in a PREFECT_HOME of the suite's own.

The first start on a fresh home migrates SQLite (about 26 s here), so the start timeout is
raised; subprocesses (the CLI) are pointed at the same server and pay no start-up of their own.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_HOME = tempfile.mkdtemp(prefix="narration-tests-prefect-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)  # each suite (and xdist worker) leaves no home behind
os.environ["PREFECT_HOME"] = _HOME
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import pytest  # noqa: E402

from tests.graceful_stop import stop_like_ctrl_c_on_sigterm  # noqa: E402

stop_like_ctrl_c_on_sigterm()  # a suite stopped by `timeout` or CI still stops the servers it started


@pytest.fixture(scope="session")
def prefect_api_url():
    """The running test server's API URL (a real Prefect server on a free loopback port)."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield PREFECT_API_URL.value()


@pytest.fixture
def prefect_env(prefect_api_url) -> dict[str, str]:
    """Environment for a subprocess that should use the session's Prefect server."""
    env = dict(os.environ)
    env["PREFECT_API_URL"] = prefect_api_url
    return env


@pytest.fixture(scope="session")
def emulator_process():
    """One emulator process for the session (real HTTP on 127.0.0.1, a free port)."""
    from tts_emulator.process import EmulatorProcess

    process = EmulatorProcess("--job-seconds", "0.5")
    yield process
    process.stop()


@pytest.fixture
def emulator(emulator_process):
    """The session's emulator with counters, faults, limits and jobs cleared for this test."""
    emulator_process.reset()
    from tts_emulator.config import ROUTES

    for route in ROUTES:
        emulator_process.set_route(route)
    yield emulator_process


SERVER_FIXTURES = {"prefect_api_url", "prefect_env"}


def pytest_collection_modifyitems(items):
    """A test that needs the Prefect server is slow by definition: mark it, so `make test-fast` leaves it out."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
