"""The synthesis room's Prefect task runs: planning with the chunk-store lookup, and synthesis batches.

They are async on purpose: a sync task run in an async flow builds its own Prefect API client
(and TLS context), about 0.25 s each; these share the flow's.
"""

from __future__ import annotations

import asyncio

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run, task_run

from blocks.speech_provider import SpeechProvider
from speech_audio.memory import return_freed_memory_after
from tasks.models import ChunkAudio, PlannedChunk
from tasks.output import progress
from tasks.output.assembly_ahead import ahead_for
from tasks.output.chunk_analysis import analysis_of_new_chunk
from tasks.store.chunk_store import ChunkStore
from tasks.synthesis.ledger import ledger_for
from tasks.synthesis.planning import plan_for
from tasks.synthesis.providers import engine_for
from tasks.synthesis.providers.base import SpeechEngine
from tasks.synthesis.retry_policy import retry_task_unless_input_error
from tasks.synthesis.synthesize import synthesize_batch
from tasks.text.documents import Document
from tasks.text.lexicon import Lexicon


@task(name="plan-chunks", cache_policy=NO_CACHE)
async def plan(
    document: Document,
    engine: SpeechEngine,
    store_url: str,
    subtitles: tuple[str, str] | None = None,
    lexicon: Lexicon | None = None,
) -> tuple[list[PlannedChunk], dict[str, ChunkAudio]]:
    """(plan_for's chunks, those of them already in the store), off the event loop (chunking a book takes a while).

    One task run for both: a task run costs 15-20 ms before its work starts, on the way to the first request.
    """
    store = ChunkStore(store_url)

    def plan_and_look_up() -> tuple[list[PlannedChunk], dict[str, ChunkAudio]]:
        chunks = plan_for(document, engine, lambda keys: set(store.get_many(keys)), subtitles, lexicon)
        return chunks, store.get_many([chunk.key for chunk in chunks])  # one batched read, concurrent on object stores

    return await asyncio.to_thread(plan_and_look_up)


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
    analysis: tuple[str, tuple[float, float] | None] | None = None,
) -> list[ChunkAudio]:
    """Synthesize a batch of chunks (skipping any a previous attempt stored); results in chunk order.

    `analysis` (language, loudness target and ceiling) has each new chunk measured once it is stored.
    """
    engine = engine_for(provider, voice, speed)
    run_id = flow_run.get_id() or "local"
    report = progress.report_for(run_id)
    ahead = ahead_for(run_id)

    async def chunk_done(audio: ChunkAudio) -> None:
        if ahead is not None:
            ahead.chunk_stored(audio)
        if report is not None:
            await report.advance()

    ledger = ledger_for(run_id, provider.max_attempts)
    store = ChunkStore(store_url)
    engine.answer_folder = await asyncio.to_thread(store.incoming_folder)
    measure = None
    if analysis is not None:
        language, loudness = analysis

        def measure(chunk: PlannedChunk, audio: ChunkAudio) -> None:
            analysis_of_new_chunk(store, audio, chunk.text, language, loudness)
            return_freed_memory_after(audio.duration_seconds)  # decoding and measuring leave the heap freed memory

    try:
        return await synthesize_batch(
            engine,
            chunks,
            store,
            get_run_logger(),
            ledger,
            chunk_done,
            measure,
            # the flow looked the chunks up just before; a retry looks again for what the failed attempt stored
            first_attempt=task_run.run_count <= 1,
        )
    finally:
        await engine.aclose()
