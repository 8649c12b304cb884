"""Run the `narrate` CLI as a user does, and kill it with SIGKILL mid-run as a crash would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def narrate_command(source: Path, provider: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "flows.cli", str(source), "--provider", provider, "--out", str(out), "--quiet"]


def kill_when(command: list[str], env: dict[str, str], ready: Callable[[], bool], timeout: float = 120) -> bool:
    """Start `command`, wait until `ready()` (or it exits, or `timeout`), then SIGKILL its process group.

    Returns whether it was still running, i.e. whether it was really killed mid-run.
    """
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + timeout
    while not ready() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    killed = process.poll() is None
    if killed:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return killed


def run_to_the_end(command: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
