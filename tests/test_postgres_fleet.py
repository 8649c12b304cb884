"""Prefect on a real PostgreSQL, three process workers, one folder in S3, one provider capped across them.

On SQLite the server answers `create_flow_run` with 503 while the database is locked, once several
workers start runs at the same time; on PostgreSQL the same fan-out must go through without one.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.prefect_server import (
    TROUBLE,
    PrefectServer,
    hold_slots,
    process_group_alive,
    release_slots,
    run_deployment,
    runs_of,
    workers_that_ran,
)
from tests.s3_server import MotoServer

if TYPE_CHECKING:
    from tests.postgres_server import PostgresCluster

pytestmark = pytest.mark.slow
pytest_plugins = ("tests.postgres_server",)  # its `postgres_cluster` fixture (imported by pytest: asserts rewritten)

DOCUMENTS = 12
WORKER_LIMIT = 5
SENTENCES = 4  # one chunk each at chunk_characters=40: a few chunks per document
CAP = 8
NEIGHBOUR_SLOTS = 6  # held by another user of the provider for the whole test: the fleet has 2 slots left
WORKERS = 3
GIT_REPOSITORY = "https://git.example.com/team/narration.git"
AUTH_PAIR = ("fleet", secrets.token_urlsafe(16))
AUTH = ":".join(AUTH_PAIR)


def deploy_remote(server: PrefectServer, prefect_file: str, pool: str, pool_type: str) -> tuple[list, dict]:
    """Deploy a remote variant; return the pull steps and job variables the server keeps for narrate/narrate."""
    server.cli("work-pool", "create", pool, "--type", pool_type)
    server.cli(
        "--no-prompt",
        "deploy",
        "--all",
        "--prefect-file",
        prefect_file,
        env={"NARRATION_GIT_REPOSITORY": GIT_REPOSITORY, "NARRATION_GIT_BRANCH": "main"},
    )

    async def read() -> tuple[list, dict]:
        async with server.client() as client:
            deployment = await client.read_deployment_by_name("narrate/narrate")
            assert deployment.work_pool_name == pool
            return deployment.pull_steps, deployment.job_variables

    return asyncio.run(read())


async def global_limit(server: PrefectServer, name: str):
    async with server.client() as client:
        return await client.read_global_concurrency_limit_by_name(name)


def test_the_script_makes_a_loopback_only_cluster_with_what_prefect_needs(postgres_cluster: PostgresCluster):
    assert postgres_cluster.url.startswith("postgresql+asyncpg://prefect:")
    assert "@127.0.0.1:" in postgres_cluster.url
    # `start` on a running cluster and `url` give the same address, so scripts can ask again.
    assert postgres_cluster.script("url") == postgres_cluster.script("start") == postgres_cluster.url
    (row,) = postgres_cluster.fetch(
        "SELECT current_setting('listen_addresses') AS listen, rolsuper, "
        "EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_trgm') AS trgm, "
        "current_setting('server_version_num')::int AS version "
        "FROM pg_roles WHERE rolname = current_user"
    )
    assert row["listen"] == "127.0.0.1" and row["trgm"] and not row["rolsuper"]
    assert row["version"] >= 140009  # Prefect needs PostgreSQL 14.9 or later
    data = postgres_cluster.directory / "data"
    assert data.stat().st_uid != 0  # initdb and postgres never run as root


@pytest.mark.timeout(900)
def test_three_workers_narrate_a_bucket_through_postgres_within_a_global_cap(postgres_cluster, emulator):
    import s3fs

    emulator.set_route("ele", latency_seconds=0.5)  # requests overlap long enough for the cap to matter
    moto = MotoServer()
    server = None
    try:
        server = PrefectServer(
            database_url=postgres_cluster.url,
            settings={
                # INFO writes uvicorn's access log (a 503 would show); retryable errors are logged where they happen.
                "PREFECT_SERVER_LOGGING_LEVEL": "INFO",
                "PREFECT_API_LOG_RETRYABLE_ERRORS": "true",
                # No runs from the deployments' schedules: only this test's runs, and nothing written to the project.
                "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
                # The workers may read and write the fleet bucket (and nothing else).
                "NARRATION_ALLOWED_ROOTS": "s3://fleet",
                # Basic authentication on: every worker, flow run and CLI call below must present it.
                "PREFECT_SERVER_API_AUTH_STRING": AUTH,
                "PREFECT_API_AUTH_STRING": AUTH,
            },
        )
        unauthenticated = httpx.post(f"{server.api_url}/flow_runs/filter", json={}, timeout=30)
        authenticated = httpx.post(f"{server.api_url}/flow_runs/filter", json={}, auth=AUTH_PAIR, timeout=30)
        assert (unauthenticated.status_code, authenticated.status_code) == (401, 200)
        server.cli("work-pool", "create", "narration", "--type", "process")
        server.cli("--no-prompt", "deploy", "--all")
        server.python(
            "from tests.provider_blocks import save_block; "
            f"save_block('maas-ele', {emulator.url!r}, 'fleet', chunk_characters=40, max_concurrency={CAP}, "
            "global_limits=True); "
            "from blocks import NarrationStorage; "
            f"NarrationStorage(base_url='s3://fleet', storage_options={moto.storage_options!r})"
            ".save('fleet', overwrite=True)"
        )
        # Another user of the provider holds most of its cap: the fleet's runs must share the rest.
        limit_name = "narration-provider-maas-ele.fleet"
        neighbour = asyncio.run(hold_slots(server, limit_name, CAP, NEIGHBOUR_SLOTS))
        # At most WORKER_LIMIT runs each: the folder's run and its DOCUMENTS runs, created at once, cannot
        # all land on the worker that polls first.
        for number in range(1, WORKERS + 1):
            server.start_worker(f"fleet-{number}", limit=WORKER_LIMIT)

        fs = s3fs.S3FileSystem(**moto.storage_options)
        fs.mkdir("fleet")
        for i in range(DOCUMENTS):
            text = " ".join(f"Document {i} sentence {j} is spoken here." for j in range(SENTENCES))
            fs.pipe_file(f"fleet/docs/doc-{i:02}.txt", text.encode())

        parameters = {
            "source": "s3://fleet/docs/",
            "output": "s3://fleet/out/",
            "provider": "maas-ele/fleet",
            "storage": "narration-storage/fleet",
            "max_parallel": DOCUMENTS,  # every document's run is created at once: the burst that locks SQLite
        }
        folder_run = run_deployment(server, "narrate-folder/narrate-folder", parameters, timeout=600)
        narrate_runs = runs_of(server, "narrate/narrate")

        failed = [(run.name, run.state.message) for run in narrate_runs if not run.state.is_completed()]
        assert folder_run.state.is_completed() and not failed, (folder_run.state.message, failed)
        assert len(narrate_runs) == DOCUMENTS
        manifests = sorted(fs.glob("fleet/out/*.manifest.json"))
        assert [path.rsplit("/", 1)[-1] for path in manifests] == [
            f"doc-{i:02}.manifest.json" for i in range(DOCUMENTS)
        ]
        chunks = sum(len(json.loads(fs.cat_file(path))["chunks"]) for path in manifests)
        stats = emulator.stats("ele")
        assert chunks == stats["served"] == DOCUMENTS * SENTENCES, stats
        assert stats["max_in_flight"] <= CAP - NEIGHBOUR_SLOTS, stats  # only the room the neighbour left
        assert len(workers_that_ran(narrate_runs)) >= 2  # the work was shared
        limit = asyncio.run(global_limit(server, limit_name))
        assert limit.limit == CAP  # the block's cap
        assert limit.active_slots == NEIGHBOUR_SLOTS  # the runs gave back every slot they took
        asyncio.run(release_slots(server, neighbour))
        assert asyncio.run(global_limit(server, limit_name)).active_slots == 0

        # The runs live in PostgreSQL, not in a SQLite file in the server's home.
        stored = postgres_cluster.fetch("SELECT id FROM flow_run WHERE state_type = 'COMPLETED'")
        assert {row["id"] for row in stored} == {run.id for run in [folder_run, *narrate_runs]}
        assert not list(Path(server.home).glob("*.db"))

        server_log = server.logs()["server.log"]
        assert "POST /api/flow_runs/" in server_log  # the access log is on: a 503 would show
        # Runs found the provider's slots taken and waited (423 Locked): a run asks for a third slot while it
        # holds two, so the cap, not luck, kept the fleet within the room the neighbour left.
        assert re.search(r'POST /api/v2/concurrency_limits/increment-with-lease HTTP/1\.[01]" 423', server_log)
        messages = [run.state.message or "" for run in [folder_run, *narrate_runs]]
        trouble = {
            name: [line for line in text.splitlines() if TROUBLE.search(line)] for name, text in server.logs().items()
        }
        trouble["runs"] = [message for message in messages if TROUBLE.search(message)]
        assert not any(trouble.values()), {name: lines[:5] for name, lines in trouble.items() if lines}

        # Last (they replace the local deployments): the server accepts both remote variants as written.
        assert deploy_remote(server, "deploy/prefect.git.yaml", "narration-remote", "process") == (
            [{"prefect.deployments.steps.git_clone": {"repository": GIT_REPOSITORY, "branch": "main"}}],
            {},
        )
        assert deploy_remote(server, "deploy/prefect.remote.yaml", "narration-docker", "docker") == (
            [{"prefect.deployments.steps.set_working_directory": {"directory": "/app"}}],
            {
                "image": "narration-worker:latest",
                "image_pull_policy": "IfNotPresent",
                "networks": ["narration"],
                "auto_remove": True,
            },
        )
    finally:
        groups = server.process_groups if server else []
        if server:
            server.stop()
        moto.stop()
    assert not [group for group in [*groups, moto.process.pid] if process_group_alive(group)]
