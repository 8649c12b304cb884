"""A real `prefect server start` on a free loopback port, workers, and deployments, for integration tests.

Prefect's client is imported inside the deployment helpers, not here: fast tests import this module
(through `tests.s3_server`) and should not pay for importing Prefect.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import httpx

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.objects import Deployment, FlowRun

ROOT = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).with_name("prefect"))
# What a refused or failed database write looks like in a server or worker log: the access log line
# of a 503, Prefect's log of a retryable error (the path that answers 503), SQLite's lock error.
TROUBLE = re.compile(
    r'HTTP/1\.[01]" 503\b|\b503 Service Unavailable|Encountered retryable exception|database is locked',
    re.IGNORECASE,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status_of(url: str, timeout: float) -> int | None:
    """The HTTP status `url` answers with, or None while nothing answers there."""
    try:
        return httpx.get(url, timeout=timeout).status_code
    except httpx.HTTPError:
        return None


def wait_until_ready(
    process: subprocess.Popen, ready: Callable[[], bool], timeout: float, interval: float, failure: Callable[[], str]
) -> None:
    """Poll `ready()` until it holds; RuntimeError(failure()) if `process` exits or `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(failure())
        time.sleep(interval)


def stop_process_group(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM the process and its children, then SIGKILL what is left."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def process_group_alive(pgid: int) -> bool:
    """True while any process of the group (a process started with start_new_session) is left."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PrefectServer:
    """`prefect server start` with a PREFECT_HOME of its own; `env` points children at it.

    `database_url` puts the server on that database (PostgreSQL: `postgresql+asyncpg://...`), migrated
    beforehand with `prefect server database upgrade -y` as in production, not on start; `settings` are
    further environment variables for the server and every process started through it.
    """

    def __init__(
        self,
        start_timeout: float = 240,
        database_url: str | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.home = tempfile.mkdtemp(prefix="narration-server-home-")
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.ui_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PREFECT_HOME": self.home,
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_WORKER_PREFETCH_SECONDS": "5",
            "PREFECT_LOGGING_LEVEL": "INFO",
            "PWD": str(ROOT),
        }
        self.env.pop("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", None)
        if database_url:
            self.env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
            self.env["PREFECT_API_DATABASE_MIGRATE_ON_START"] = "false"
        self.env.update(settings or {})
        self.log = Path(self.home) / "server.log"
        self._processes: list[subprocess.Popen] = []
        try:
            if database_url:
                self.cli("server", "database", "upgrade", "-y", timeout=start_timeout)
            self.process = self.spawn(
                [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(self.port)], self.log
            )
            wait_until_ready(
                self.process,
                lambda: status_of(f"{self.api_url}/health", timeout=2) == 200,
                start_timeout,
                0.5,
                lambda: f"prefect server did not start: {self.log.read_text()[-3000:]}",
            )
        except BaseException:  # interrupted while starting too (Ctrl-C, SIGTERM): leave nothing running
            self.stop()
            raise

    def spawn(self, command: list[str], log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen:
        with log.open("ab") as output:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**self.env, **(env or {})},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._processes.append(process)
        return process

    def cli(
        self, *args: str, timeout: float = 300, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """Run `prefect ARGS` against this server (`env`: further variables, e.g. read by prefect.yaml templates)."""
        result = subprocess.run(
            [PREFECT, *args], cwd=ROOT, env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(f"prefect {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def python(self, code: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(f"python failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def start_worker(self, name: str, niceness: int = 0, limit: int | None = None) -> subprocess.Popen:
        """A process worker of the `narration` pool; `niceness` lowers its priority and its flow runs'
        (a benchmark's stand-in for workers on machines of their own, beside the server and database);
        `limit`: at most that many flow runs at once."""
        nice = ["nice", "-n", str(niceness)] if niceness else []
        command = [*nice, PREFECT, "worker", "start", "--pool", "narration", "--name", name, "--type", "process"]
        # Unbuffered: a test that fails shows the live worker's log, which a block buffer could still hold.
        return self.spawn(
            [*command, *(["--limit", str(limit)] if limit else [])],
            Path(self.home) / f"worker-{name}.log",
            env={"PYTHONUNBUFFERED": "1"},
        )

    def client(self) -> PrefectClient:
        """A client of this server, with its credentials when it asks for them (PREFECT_API_AUTH_STRING)."""
        from prefect.client.orchestration import PrefectClient

        return PrefectClient(self.api_url, auth_string=self.env.get("PREFECT_API_AUTH_STRING"))

    @property
    def process_groups(self) -> list[int]:
        """The process group of everything started through this server (each spawn is a session of its own)."""
        return [process.pid for process in self._processes]

    def logs(self) -> dict[str, str]:
        """Every log file of the server and its workers, by name."""
        return {log.name: log.read_text(errors="replace") for log in sorted(Path(self.home).glob("*.log"))}

    def stop(self) -> None:
        for process in reversed(self._processes):
            stop_process_group(process)

    def __enter__(self) -> PrefectServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# Deployment runs through the server's API, shared by the integration tests.


async def read_deployment(client: PrefectClient, name: str) -> Deployment:
    return await client.read_deployment_by_name(name)


async def wait_for_run(client: PrefectClient, run_id, timeout: float = 300) -> FlowRun:
    deadline = time.monotonic() + timeout
    while True:
        run = await client.read_flow_run(run_id)
        if run.state and run.state.is_final():
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"flow run {run.name} still {run.state.name if run.state else '?'}")
        await asyncio.sleep(1)


def run_deployment(server: PrefectServer, name: str, parameters: dict, timeout: float = 300) -> FlowRun:
    """Create a run of deployment `name` and wait for its final state."""

    async def go() -> FlowRun:
        async with server.client() as client:
            deployment = await read_deployment(client, name)
            run = await client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
            return await wait_for_run(client, run.id, timeout)

    return asyncio.run(go())


def set_defaults(server: PrefectServer, name: str, parameters: dict) -> None:
    """Change a deployment's default parameters."""
    from prefect.client.schemas.actions import DeploymentUpdate

    async def go() -> None:
        async with server.client() as client:
            deployment = await read_deployment(client, name)
            await client.update_deployment(
                deployment.id, DeploymentUpdate(parameters=deployment.parameters | parameters)
            )

    asyncio.run(go())


def runs_of(server: PrefectServer, name: str) -> list[FlowRun]:
    """Every flow run of deployment `name`."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    async def go() -> list[FlowRun]:
        async with server.client() as client:
            deployment = await read_deployment(client, name)
            return await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
            )

    return asyncio.run(go())


def wait_for_runs(server: PrefectServer, name: str, count: int, timeout: float = 300) -> list[FlowRun]:
    """Wait until deployment `name` has at least `count` runs, all in a final state."""
    deadline = time.monotonic() + timeout
    while True:
        runs = runs_of(server, name)
        if len(runs) >= count and all(run.state and run.state.is_final() for run in runs):
            return runs
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name}: {[(r.name, r.state.name if r.state else None) for r in runs]}")
        time.sleep(1)


async def hold_slots(server: PrefectServer, name: str, limit: int, slots: int) -> UUID:
    """Make the global limit `name` allow `limit` and hold `slots` of it under a lease of an hour, as another
    worker would: what is left is all the runs under test may use."""
    async with server.client() as client:
        await client.upsert_global_concurrency_limit_by_name(name, limit)
        response = await client.increment_concurrency_slots_with_lease(
            names=[name], slots=slots, mode="concurrency", lease_duration=3600
        )
        return UUID(response.json()["lease_id"])


async def release_slots(server: PrefectServer, lease_id: UUID) -> None:
    async with server.client() as client:
        await client.release_concurrency_slots_with_lease(lease_id=lease_id)


def workers_that_ran(runs: list[FlowRun]) -> dict[str, int]:
    """How many of `runs` each worker took, by worker name.

    A worker labels a run with its name only after its claim on the run (Pending) was accepted, so the
    labels name the one worker that ran it. Worker logs do not: two workers that see the same scheduled
    run both log that they are submitting it, and only one wins.
    """
    return dict(Counter(str(worker) for run in runs if (worker := (run.labels or {}).get("prefect.worker.name"))))
