"""Synthesis of the chunks the store does not have: concurrent, capped, retried, checked, stored.

One Prefect task run covers a batch of chunks, not one chunk: a task run costs about 14 ms of
CPU here, so per-chunk task runs would dominate short requests. Inside a batch, requests run
concurrently under the provider's cap, and each is retried on its own (honouring Retry-After).
A failed batch is retried by Prefect; chunks it already stored are not requested again.
"""

from __future__ import annotations

import asyncio

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from blocks.speech_provider import SpeechProvider
from tasks import progress
from tasks.audio_check import check_audio
from tasks.chunk_store import ChunkStore
from tasks.concurrency_caps import hold_off, provider_slots, wait_for_rate, wait_out_hold_off
from tasks.errors import ProviderError
from tasks.models import ChunkAudio, PlannedChunk, SynthesizedAudio
from tasks.providers import engine_for
from tasks.providers.base import SpeechEngine
from tasks.retry_policy import call_with_retries, retry_task_unless_input_error


def check_and_store(store: ChunkStore, chunk: PlannedChunk, answer: SynthesizedAudio, speed: float) -> ChunkAudio:
    """Decode-check the answer, then store it: one trip to a worker thread per chunk."""
    duration = check_audio(answer.audio, answer.encoding, chunk.text, speed)
    return store.put(chunk.key, answer, duration)


async def synthesize_one(engine: SpeechEngine, chunk: PlannedChunk, store: ChunkStore, logger) -> ChunkAudio:
    """Request, check and store one chunk, retrying what can succeed on retry."""

    async def attempt() -> ChunkAudio:
        # Answers waiting for their check and store are bounded too (2 × cap), so a provider that
        # answers faster than worker threads check never piles answers up in memory.
        async with provider_slots(f"{engine.label}:in-hand", 2 * engine.max_concurrency):
            async with provider_slots(engine.label, engine.max_concurrency):
                await wait_out_hold_off(engine.label)
                await wait_for_rate(engine.label, engine.block)
                try:
                    answer = await engine.synthesize(chunk)
                except ProviderError as error:
                    if error.status == 429:
                        hold_off(engine.label, error.retry_after)
                    raise
            return await asyncio.to_thread(check_and_store, store, chunk, answer, engine.speed)

    def on_retry(error: BaseException, wait: float) -> None:
        logger.warning("chunk %d: %s; retrying in %.1f s", chunk.index, error, wait)

    try:
        return await call_with_retries(
            attempt,
            attempts=engine.block.max_attempts,
            max_wait=engine.block.max_retry_wait_seconds,
            on_retry=on_retry,
        )
    except ProviderError as error:
        raise error.for_chunk(chunk.index) from None
    except Exception as error:
        raise ProviderError(
            engine.label, f"{type(error).__name__}: {error}", chunk_index=chunk.index, retryable=True
        ) from error


@task(
    name="synthesize-chunks",
    retries=2,
    retry_delay_seconds=[5, 20],
    retry_condition_fn=retry_task_unless_input_error,
    cache_policy=NO_CACHE,
    task_run_name="synthesize-chunks-{first_index}",
)
async def synthesize_chunks(
    provider: SpeechProvider,
    voice: str | None,
    speed: float | None,
    chunks: list[PlannedChunk],
    store_url: str,
    first_index: int = 0,
) -> list[ChunkAudio]:
    """Synthesize a batch of chunks (skipping any a previous attempt stored); results in chunk order."""
    logger = get_run_logger()
    engine = engine_for(provider, voice, speed)
    store = ChunkStore(store_url)
    report = progress.report_for(flow_run.get_id())
    results: dict[int, ChunkAudio] = {}

    # One batched lookup: chunks an earlier attempt of this batch stored are not requested again.
    already = await asyncio.to_thread(store.get_many, [chunk.key for chunk in chunks])

    async def run(chunk: PlannedChunk) -> None:
        stored = already.get(chunk.key)
        results[chunk.index] = stored or await synthesize_one(engine, chunk, store, logger)
        if stored:
            engine.remember(stored.request_id)
        if report:
            await report.advance()

    async def run_all() -> list[object]:
        if engine.sequential:  # request stitching needs document order: stop at the first failure
            for chunk in chunks:
                await run(chunk)
            return []
        return await asyncio.gather(*(run(chunk) for chunk in chunks), return_exceptions=True)

    try:
        outcomes = await run_all()
    finally:
        await engine.aclose()
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failures:
        logger.error(
            "%d of %d chunks failed; the %d stored are kept for the next attempt",
            len(failures),
            len(chunks),
            len(results),
        )
        raise failures[0]
    return [results[chunk.index] for chunk in chunks]
