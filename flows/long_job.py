"""The `narrate-long-job` subflow: one MaaS-nar long job, submitted once, polled, resumed, downloaded."""

from __future__ import annotations

import asyncio
import os
import time

import httpx
from prefect import flow, get_run_logger
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact

from tasks import progress
from tasks.chunk_store import ChunkStore
from tasks.errors import ProviderError
from tasks.long_jobs import JobFailed, JobRecords, download_checked, long_job_encoding, poll_job, submit_job
from tasks.models import ChunkAudio, PlannedChunk
from tasks.provider_resolution import load_provider
from tasks.providers import engine_for
from tasks.providers.maas_nar import MaasNarEngine

UNUSABLE_RESULT_RESUBMISSIONS = 1  # an expired or broken result is paid for once more, not again and again


@flow(name="narrate-long-job", flow_run_name="long-job-chunk-{chunk_index}", retries=0)
async def narrate_long_job(
    provider: str, voice: str | None, speed: float | None, chunk: PlannedChunk, store_url: str, chunk_index: int = 0
) -> ChunkAudio:
    """Get one chunk's audio through a long job; a job already submitted for this chunk is resumed, not paid again."""
    logger = get_run_logger()
    engine = engine_for(await load_provider(provider), voice, speed)
    assert isinstance(engine, MaasNarEngine)
    store = ChunkStore(store_url)
    if stored := await asyncio.to_thread(store.get, chunk.key):
        return stored
    records = JobRecords(store)
    artifact = await acreate_progress_artifact(0.0, description=f"Long job for chunk {chunk.index}")
    last_update = 0.0
    record = await asyncio.to_thread(records.get, chunk.key)
    submissions = record.submission if record else 0
    unusable = 0
    last_error: ProviderError | None = None

    async def on_percent(percent: float) -> None:
        nonlocal last_update
        progress.notify(f"long job, chunk {chunk.index}", int(percent), 100)
        if time.monotonic() - last_update >= 1.0 or percent >= 100:
            last_update = time.monotonic()
            await aupdate_progress_artifact(artifact, progress=float(percent))

    status_client = httpx.AsyncClient(timeout=engine.block.timeout_seconds, follow_redirects=False)  # no Authorization
    try:
        while True:
            if record is None:
                if submissions >= engine.block.max_job_submissions:
                    raise last_error or ProviderError(engine.label, "no submissions left", chunk_index=chunk.index)
                submissions += 1
                record = await submit_job(engine, chunk, submissions)
                await asyncio.to_thread(records.put, chunk.key, record)
                logger.info("chunk %d: submitted long job %s (submission %d)", chunk.index, record.task_id, submissions)
            else:
                logger.info("chunk %d: resuming long job %s", chunk.index, record.task_id)
            status = await poll_job(engine, status_client, record, on_percent)
            if not status.succeeded:
                last_error = JobFailed(
                    engine.label,
                    f"task {record.task_id} failed: {status.message or 'no reason given'}",
                    chunk_index=chunk.index,
                )
                logger.warning("%s", last_error)
                await asyncio.to_thread(records.forget, chunk.key)
                record = None
                continue
            try:
                local, duration = await download_checked(engine, status_client, status.result or "", record, chunk.text)
            except JobFailed as error:
                unusable += 1
                last_error = error.for_chunk(chunk.index)
                logger.warning("%s", last_error)
                await asyncio.to_thread(records.forget, chunk.key)
                record = None
                if unusable > UNUSABLE_RESULT_RESUBMISSIONS:
                    raise last_error from None
                continue
            try:
                entry = await asyncio.to_thread(
                    store.put_file, chunk.key, local, long_job_encoding(engine), duration, record.task_id
                )
            finally:
                os.unlink(local)
            await asyncio.to_thread(records.forget, chunk.key)
            return entry
    except ProviderError as error:
        raise error.for_chunk(chunk.index) from None
    finally:
        await status_client.aclose()
        await engine.aclose()
