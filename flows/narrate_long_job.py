"""The `narrate-long-job` subflow: one MaaS-nar long job as its own run, with a progress artifact in the UI.

The protocol (submit once, poll, resume after a crash, download, check) is MaaS-nar's and lives
with it in `tasks/synthesis/providers/maas_nar.py`; this module gives each job a flow run, and
fans a narration's long chunks out to such runs under the provider's cap.
"""

from __future__ import annotations

import asyncio
import time

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.runtime import flow_run

from tasks.models import ChunkAudio, PlannedChunk
from tasks.output import progress
from tasks.store.chunk_store import ChunkStore
from tasks.synthesis.block_loading import load_provider
from tasks.synthesis.global_limits import provider_slot
from tasks.synthesis.providers import engine_for
from tasks.synthesis.providers.base import SpeechEngine
from tasks.synthesis.providers.maas_nar import MaasNarEngine, run_long_job


@flow(name="narrate-long-job", flow_run_name="long-job-chunk-{chunk_index}", retries=0)
async def narrate_long_job(
    provider: str, voice: str | None, speed: float | None, chunk: PlannedChunk, store_url: str, chunk_index: int = 0
) -> ChunkAudio:
    """Get one chunk's audio through a long job; a job already submitted for this chunk is resumed, not paid again."""
    engine = engine_for(await load_provider(provider), voice, speed)
    assert isinstance(engine, MaasNarEngine)
    artifact = await acreate_progress_artifact(0.0, description=f"Long job for chunk {chunk.index}")
    last_update = 0.0

    async def on_percent(percent: float) -> None:
        nonlocal last_update
        progress.notify(f"long job, chunk {chunk.index}", int(percent), 100)
        if time.monotonic() - last_update >= 1.0 or percent >= 100:
            last_update = time.monotonic()
            await aupdate_progress_artifact(artifact, progress=float(percent))

    try:
        store = ChunkStore(store_url)
        engine.answer_folder = await asyncio.to_thread(store.incoming_folder)
        return await run_long_job(engine, chunk, store, on_percent, get_run_logger())
    finally:
        await engine.aclose()


async def narrate_long_jobs(
    engine: SpeechEngine, provider: str, chunks: list[PlannedChunk], store_url: str
) -> list[ChunkAudio]:
    """One `narrate-long-job` subflow per chunk, as many at once as the provider's cap allows (across
    workers too, with global limits: each job holds one of the provider's slots while it runs)."""
    slots = asyncio.Semaphore(engine.max_concurrency)
    report = progress.report_for(flow_run.get_id() or "local")

    async def one(chunk: PlannedChunk) -> ChunkAudio:
        async with slots, provider_slot(engine.label, engine.block):  # a job in flight holds a slot
            audio = await narrate_long_job(
                provider, engine.voice, engine.speed, chunk, store_url, chunk_index=chunk.index
            )
        if report:
            await report.advance()
        return audio

    return await asyncio.gather(*(one(chunk) for chunk in chunks))
