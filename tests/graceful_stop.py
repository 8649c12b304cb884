"""SIGTERM stops a test or benchmark process the way Ctrl-C does, so the servers it started are stopped.

Python's default for SIGTERM ends the process at once: no `finally` block, fixture teardown or exit
handler runs. `timeout`, CI runners and `kill` send it, and the servers a suite or benchmark starts in
their own process groups (Prefect, PostgreSQL) outlived it: a probe stopped by `timeout` left a Prefect
server running for an hour. As a KeyboardInterrupt, pytest tears its fixtures down and a script's
`finally` blocks run.
"""

from __future__ import annotations

import signal
import threading


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def stop_like_ctrl_c_on_sigterm() -> bool:
    """Install the handler (main thread only, and only over Python's default); True if it is in place."""
    if threading.current_thread() is not threading.main_thread():
        return False
    current = signal.getsignal(signal.SIGTERM)
    if current is _interrupt:
        return True
    if current is not signal.SIG_DFL:
        return False  # someone else's handler: theirs to keep
    signal.signal(signal.SIGTERM, _interrupt)
    return True
