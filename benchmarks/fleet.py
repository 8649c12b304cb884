"""B7, the fleet benchmark: several workers sharing one provider cap, on PostgreSQL and on SQLite.

A folder of documents in S3 (moto) is narrated by `narrate-folder`, which fans out runs of its own
deployment, DOCUMENTS_PER_RUN documents each, taken by three process workers; every run talks to one emulated
provider (500 ms a request) whose cap of 8 in flight is held across the workers by Prefect global
limits. The figures: documents per minute, how much of the cap was in use while work remained (the
emulator's time-weighted mean of requests in flight, from the first request's arrival to the last
answer), failed runs, and the server's refusals (503, a locked database) in any log.

Everything it starts binds 127.0.0.1 on a free port, and is stopped at the end, also on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import resource
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx

from benchmarks.cpu_use import cpu_by_part, machine_busy_seconds
from benchmarks.fleet_report import CAP, FULL, LATENCY_SECONDS, SMOKE, WORKERS, FleetResult, FleetSize, describe, row
from benchmarks.rows import Row
from tests.postgres_server import running_cluster
from tests.prefect_server import TROUBLE, PrefectServer, process_group_alive, runs_of, workers_that_ran
from tests.s3_server import MotoServer
from tts_emulator.process import EmulatorProcess

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

ROUTE = "ele"  # the emulator route MaaS-Ele requests arrive on
BUCKET = "fleet"
PROVIDER = f"maas-ele/{BUCKET}"
# Each paragraph is a block, and a chunk never crosses a block: one short paragraph is one chunk.
CHUNK_CHARACTERS = 200
# WAV, not the default MP3: B7 is about the provider's cap, and MP3 encoding would take CPU from the runs.
FORMAT = "wav"
# In a fleet the workers run on machines of their own, not beside the API server, its database, S3 and the
# provider; here all share two cores, so the workers and their flow runs yield to those services.
WORKER_NICENESS = 10
# A flow run's process costs several CPU-seconds to start (Python, Prefect, the flow's imports), so a worker
# on a 2-core machine that starts many at once only makes them all slow. Without a limit, the 60 runs
# started together (at nice 10 too): the API server's database pool (5 + 10 connections) timed out after
# 30 s, it answered 500, and 43 runs crashed.
WORKER_LIMIT = 4
# A run per document spent most of the machine starting processes (a document cost 21 CPU-seconds, 13 of
# them in flow-run processes); ten documents a run make six runs, two for each worker.
DOCUMENTS_PER_RUN = 10
DOCUMENTS_AT_ONCE = 60  # every run is created at once, and narrates all its documents at once
# A server error of any kind in a log (an exhausted connection pool answers 500); TROUBLE has 503 and locks.
SERVER_ERRORS = re.compile(r'HTTP/1\.[01]" 50[0-24-9]\b|QueuePool limit')


def document_text(number: int, chunks: int) -> str:
    """`chunks` paragraphs, each its own chunk, each distinct (no chunk is shared through the store)."""
    return "\n\n".join(f"Document {number} paragraph {j} is spoken by the fleet here." for j in range(chunks))


@contextlib.contextmanager
def database(kind: str) -> Iterator[tuple[str | None, int | None]]:
    """(connection URL, server pid): a throwaway PostgreSQL cluster, or (None, None) for SQLite in the home."""
    if kind == "PostgreSQL":
        with running_cluster() as cluster:
            yield cluster.url, cluster.postmaster_pid()
    else:
        yield None, None


def narrate_folder_run(server: PrefectServer, parameters: dict, timeout: float) -> FlowRun:
    """Create the folder's run and wait for its end (or `timeout`), riding out the server's errors while it
    is overloaded; the run as last read, final or not."""
    from prefect.exceptions import PrefectHTTPStatusError

    async def go() -> FlowRun:
        async with server.client() as client:
            deployment = await client.read_deployment_by_name("narrate-folder/narrate-folder")
            run = await client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                await asyncio.sleep(1)
                with contextlib.suppress(PrefectHTTPStatusError, httpx.HTTPError):
                    run = await client.read_flow_run(run.id)
                    if run.state and run.state.is_final():
                        return run
            return run

    return asyncio.run(go())


class InFlightSampler:
    """Requests in flight at the emulator every half second: where the cap went unused, over time."""

    def __init__(self, emulator: EmulatorProcess) -> None:
        self.emulator = emulator
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            with contextlib.suppress(Exception):  # a missed sample is no error
                in_flight = self.emulator.stats(ROUTE).get("in_flight", 0)
                self.samples.append((time.monotonic() - self._started, in_flight))

    def stop(self) -> list[tuple[float, int]]:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.samples


def start_fleet(server: PrefectServer, emulator: EmulatorProcess, moto: MotoServer, size: FleetSize) -> None:
    """Deployments, the capped provider and the storage blocks, the documents in S3, then the workers."""
    import s3fs

    server.cli("work-pool", "create", "narration", "--type", "process")
    server.cli("--no-prompt", "deploy", "--all")
    server.python(
        "from tests.provider_blocks import save_block; "
        f"save_block('maas-ele', {emulator.url!r}, {BUCKET!r}, chunk_characters={CHUNK_CHARACTERS}, "
        f"max_concurrency={CAP}, global_limits=True, output_format='pcm_16000'); "
        "from blocks import NarrationStorage; "
        f"NarrationStorage(base_url='s3://{BUCKET}', storage_options={moto.storage_options!r})"
        f".save({BUCKET!r}, overwrite=True)"
    )
    fs = s3fs.S3FileSystem(**moto.storage_options)
    fs.mkdir(BUCKET)
    for number in range(size.documents):
        fs.pipe_file(f"{BUCKET}/docs/doc-{number:03}.txt", document_text(number, size.chunks).encode())
    for number in range(1, WORKERS + 1):
        server.start_worker(f"fleet-{number}", niceness=WORKER_NICENESS, limit=WORKER_LIMIT)


def narrated(moto: MotoServer) -> tuple[int, int]:
    """(manifests written, chunks recorded in them): each document's chunks must all be there."""
    import json

    import s3fs

    fs = s3fs.S3FileSystem(**moto.storage_options)
    manifests = fs.glob(f"{BUCKET}/out/*.manifest.json")
    return len(manifests), sum(len(json.loads(fs.cat_file(path))["chunks"]) for path in manifests)


def collect(
    kind: str,
    size: FleetSize,
    server: PrefectServer,
    emulator: EmulatorProcess,
    moto: MotoServer,
    folder_run: FlowRun,
    wall: float,
) -> FleetResult:
    """The figures of a finished (or timed-out) folder run: the emulator's account, the runs, the logs."""
    stats = emulator.stats(ROUTE)
    runs = [run for run in runs_of(server, "narrate-folder/narrate-folder") if run.parameters.get("documents")]
    due = -(-size.documents // DOCUMENTS_PER_RUN)
    unfinished = [run for run in [folder_run, *runs] if not (run.state and run.state.is_completed())]
    problems = [
        f"{run.name}: {run.state.name if run.state else '?'}: {run.state and run.state.message}" for run in unfinished
    ]
    if len(runs) != due:
        problems.append(f"{len(runs)} runs for {size.documents} documents, {DOCUMENTS_PER_RUN} a run")
    documents, chunks = narrated(moto)
    if chunks != size.documents * size.chunks or stats["served"] != chunks:
        problems.append(f"{chunks} chunks in manifests, {stats['served']} served, {size.documents * size.chunks} due")
    logs = server.logs()
    trouble = {name: [line for line in text.splitlines() if TROUBLE.search(line)] for name, text in logs.items()}
    return FleetResult(
        database=kind,
        size=size,
        wall_seconds=wall,
        mean_in_flight=stats["mean_in_flight"],
        span_seconds=stats["in_flight_span_seconds"],
        served=stats["served"],
        max_in_flight=stats["max_in_flight"],
        narrated=documents,
        failed_runs=len(unfinished) + max(0, due - len(runs)),
        problems=problems,
        trouble={name: lines for name, lines in trouble.items() if lines},
        workers_used=len(workers_that_ran(runs)),
        start_delays=[(run.start_time - run.created).total_seconds() for run in runs if run.start_time],
        run_seconds=[(run.end_time - run.start_time).total_seconds() for run in runs if run.end_time],
        server_errors=sum(len(SERVER_ERRORS.findall(text)) for text in logs.values()),
    )


def run_fleet(kind: str, size: FleetSize) -> FleetResult:
    """One database's fleet, from nothing to stopped; the figures of its narrate-folder run."""
    with contextlib.ExitStack() as stack:
        url, database_pid = stack.enter_context(database(kind))
        emulator = EmulatorProcess("--speech", "tone")
        stack.callback(emulator.stop)
        emulator.set_route(ROUTE, latency_seconds=LATENCY_SECONDS)
        moto = MotoServer()
        stack.callback(moto.stop)
        server = PrefectServer(
            database_url=url,
            settings={
                "PREFECT_SERVER_LOGGING_LEVEL": "INFO",  # the access log: a 503 would show
                "PREFECT_API_LOG_RETRYABLE_ERRORS": "true",
                "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",  # only this benchmark's runs
                # Prefect's default: the tests' one-second polling cost the API server and the workers CPU
                # that the runs lacked
                "PREFECT_WORKER_QUERY_SECONDS": "10",
                "NARRATION_ALLOWED_ROOTS": f"s3://{BUCKET}",
            },
        )
        stack.callback(server.stop)
        start_fleet(server, emulator, moto, size)
        groups = [*server.process_groups, moto.process.pid]
        parameters = {
            "source": f"s3://{BUCKET}/docs/",
            "output": f"s3://{BUCKET}/out/",
            "provider": PROVIDER,
            "storage": f"narration-storage/{BUCKET}",
            "format": FORMAT,
            "max_parallel": DOCUMENTS_AT_ONCE,
            "documents_per_run": DOCUMENTS_PER_RUN,
        }
        server_pid, *worker_pids = server.process_groups
        parts = {
            "flow runs and workers": worker_pids,
            "API server": [server_pid],
            "database": [database_pid] if database_pid else [],
            "S3 (moto)": [moto.process.pid],
            "emulator": [emulator.process.pid],
        }
        cpu_before, busy_before, self_before = cpu_by_part(parts), machine_busy_seconds(), _own_cpu_seconds()
        sampler = InFlightSampler(emulator)
        started = time.monotonic()
        try:
            folder_run = narrate_folder_run(server, parameters, size.timeout_seconds)
        finally:
            timeline = sampler.stop()
        wall = time.monotonic() - started
        cpu = {name: seconds - cpu_before[name] for name, seconds in cpu_by_part(parts).items()}
        cpu["benchmark"] = _own_cpu_seconds() - self_before
        busy = machine_busy_seconds() - busy_before
        result = collect(kind, size, server, emulator, moto, folder_run, wall)
        result.timeline, result.cpu_seconds, result.machine_busy_seconds = timeline, cpu, busy
    left = [group for group in groups if process_group_alive(group)]
    if left or emulator.process.poll() is None:
        raise RuntimeError(f"B7 left processes running: groups {left}, emulator {emulator.process.pid}")
    return result


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def b7(smoke: bool) -> list[Row]:
    """The fleet on PostgreSQL, then on SQLite, side by side."""
    size = SMOKE if smoke else FULL
    rows = []
    for kind in ("PostgreSQL", "SQLite"):
        result = run_fleet(kind, size)
        describe(result)
        rows.append(row(result))
    return rows


if __name__ == "__main__":  # python -m benchmarks.fleet [--smoke] [--sqlite|--postgres]
    from tests.graceful_stop import stop_like_ctrl_c_on_sigterm

    stop_like_ctrl_c_on_sigterm()  # stopped by `timeout` or `kill`, it still stops its servers and workers
    kinds = [k for k, flag in (("PostgreSQL", "--postgres"), ("SQLite", "--sqlite")) if flag in sys.argv]
    for kind in kinds or ["PostgreSQL", "SQLite"]:
        outcome = run_fleet(kind, SMOKE if "--smoke" in sys.argv else FULL)
        describe(outcome)
        print(row(outcome))
