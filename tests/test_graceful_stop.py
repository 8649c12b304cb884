"""A suite or benchmark stopped with SIGTERM (by `timeout`, CI, `kill`) still stops the servers it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A server in its own session, as the Prefect server and PostgreSQL are: a signal to the parent's group
# does not reach it, so only the parent's own clean-up stops it.
START_SERVER = """
import subprocess
from tests.prefect_server import stop_process_group
server = subprocess.Popen(["sleep", "600"], start_new_session=True)
print(server.pid, flush=True)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def _stop_and_check(command: list[str], cwd: Path) -> None:
    process = subprocess.Popen(
        command, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True
    )
    watchdog = threading.Timer(60, process.kill)  # a process that never prints its server's pid fails, not hangs
    watchdog.start()
    server = None
    try:
        assert process.stdout is not None
        for line in process.stdout:  # pytest prints its header first; the server's pid is the first number alone
            if line.strip().isdigit():
                server = int(line)
                break
        assert server is not None and _alive(server)
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _alive(server) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(server), "the server outlived the process that started it"
    finally:
        watchdog.cancel()
        process.kill()
        process.wait()
        if server is not None and _alive(server):
            os.kill(server, signal.SIGKILL)


def test_a_script_stopped_by_sigterm_runs_its_finally_and_stops_its_server(tmp_path):
    script = "from tests.graceful_stop import stop_like_ctrl_c_on_sigterm\nstop_like_ctrl_c_on_sigterm()\n"
    script += START_SERVER + textwrap.dedent(  # its pid is printed once the handler is in place
        """
        import time
        try:
            time.sleep(60)
        finally:
            stop_process_group(server)
        """
    )
    _stop_and_check([sys.executable, "-c", script], tmp_path)


def test_a_suite_stopped_by_sigterm_tears_its_fixtures_down(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "from tests.graceful_stop import stop_like_ctrl_c_on_sigterm\nstop_like_ctrl_c_on_sigterm()\n"
    )
    fixture = textwrap.indent(START_SERVER, "    ")
    (tmp_path / "test_waits.py").write_text(
        "import time\nimport pytest\n\n@pytest.fixture\ndef server():"
        + fixture
        + "    yield server\n    stop_process_group(server)\n\n"
        "def test_waits(server):\n    time.sleep(60)\n"
    )
    _stop_and_check([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", str(tmp_path)], tmp_path)


def test_this_suite_is_stopped_that_way_too():
    from tests import graceful_stop

    assert signal.getsignal(signal.SIGTERM) is graceful_stop._interrupt  # installed by tests/conftest.py
