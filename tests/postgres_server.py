"""A throwaway PostgreSQL cluster made by `scripts/postgres.sh`, for integration tests.

The fixture starts the cluster the way an operator would (the script, as root through its
unprivileged owner), and at the end stops it and removes its folder whatever happened, checking
that the server process is really gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "postgres.sh"


class PostgresCluster:
    """One cluster in `directory`, driven through the script; `url` is what Prefect is given."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.url = ""

    def script(self, command: str, *args: str, timeout: float = 180) -> str:
        result = subprocess.run(
            [str(SCRIPT), command, "--dir", str(self.directory), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"postgres.sh {command} failed ({result.returncode}): {result.stderr}{result.stdout}")
        return result.stdout.strip()

    def start(self) -> str:
        # No fsync: the cluster lives for one test module, and the machine is shared.
        self.url = self.script("start", "--no-sync")
        return self.url

    def stop(self) -> None:
        self.script("stop")

    def postmaster_pid(self) -> int | None:
        """The server's pid from its pid file, while the file exists."""
        try:
            return int((self.directory / "data" / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None

    def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Run one query as Prefect's role and return its rows."""

        async def go() -> list[asyncpg.Record]:
            connection = await asyncpg.connect(self.url.replace("postgresql+asyncpg://", "postgresql://", 1))
            try:
                return await connection.fetch(sql, *args)
            finally:
                await connection.close()

        return asyncio.run(go())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@contextlib.contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """A started cluster in a folder of its own; stopped, removed and checked gone on leaving (also on failure)."""
    # mkdtemp makes a 0700 folder: the cluster's owner (narration-pg, when run as root) must pass through.
    parent = Path(tempfile.mkdtemp(prefix="narration-pg-"))
    parent.chmod(0o711)
    cluster = PostgresCluster(parent / "pg")
    pid = None
    try:
        cluster.start()
        pid = cluster.postmaster_pid()
        yield cluster
    finally:
        pid = pid or cluster.postmaster_pid()
        try:
            cluster.stop()
        finally:
            if pid and not _wait_gone(pid, 30):
                os.kill(pid, signal.SIGKILL)  # the script failed to stop it: leave no server behind
                _wait_gone(pid, 10)
            shutil.rmtree(parent, ignore_errors=True)
    if pid is not None and _alive(pid):
        raise RuntimeError(f"postgres (pid {pid}) is still running")
    if parent.exists():
        raise RuntimeError(f"{parent} was not removed")


@pytest.fixture(scope="module")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A started cluster for the module (benchmarks use `running_cluster` directly)."""
    with running_cluster() as cluster:
        yield cluster
