"""The `narrate` flow: text in, one stored narration with subtitles and a manifest out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.long_job import narrate_long_job
from flows.parameters import NarrationRequest
from speech_audio.encodings import AudioKind, encoder_for
from tasks import progress
from tasks.assembly import assemble_audio
from tasks.concurrency_caps import ensure_global_limits, global_slots
from tasks.intake import read_subtitle_file, read_text, subtitle_kind
from tasks.models import ChunkAudio, Manifest, ManifestChunk, PlannedChunk, text_sha256
from tasks.output_location import check_writable, join_url, name_for
from tasks.planning import find_stored, plan
from tasks.provider_resolution import load_provider, load_storage
from tasks.providers import engine_for
from tasks.providers.base import SpeechEngine
from tasks.publishing import publish_narration
from tasks.synthesis import synthesize_chunks

MAX_BATCH = 256


def batch_size(engine: SpeechEngine) -> int:
    """Chunks per task run: many, so few task runs start at once (each costs several API calls before its
    first request: B1 lost about half a second to seven of them); a failed batch's retry skips what it stored.
    """
    return max(8, min(MAX_BATCH, engine.max_concurrency * 16))


async def run_long_jobs(
    engine: SpeechEngine, request: NarrationRequest, chunks: list[PlannedChunk]
) -> list[ChunkAudio]:
    """One `narrate-long-job` subflow per chunk, as many at once as the provider's cap allows."""
    slots = asyncio.Semaphore(engine.max_concurrency)
    report = progress.report_for(flow_run.get_id() or "local")

    async def one(chunk: PlannedChunk) -> ChunkAudio:
        async with slots:
            audio = await narrate_long_job(
                request.provider, engine.voice, engine.speed, chunk, request.chunk_store_url, chunk_index=chunk.index
            )
        if report:
            await report.advance()
        return audio

    return await asyncio.gather(*(one(chunk) for chunk in chunks))


async def synthesize_missing(
    engine: SpeechEngine, request: NarrationRequest, missing: list[PlannedChunk]
) -> dict[str, ChunkAudio]:
    """Synthesize each missing key once, in concurrent batches; raise the first failure after all settle.

    A sequential provider (request stitching) gets one batch in document order.
    """
    unique = list({chunk.key: chunk for chunk in missing}.values())
    long = [chunk for chunk in unique if engine.is_long(chunk)]
    unique = [chunk for chunk in unique if not engine.is_long(chunk)]
    size = len(unique) if engine.sequential else batch_size(engine)
    batches = [unique[i : i + size] for i in range(0, len(unique), size)]
    synthesize = synthesize_chunks.with_options(retry_delay_seconds=engine.block.max_retry_wait_seconds)
    async with global_slots(engine.label, engine.block, 1 if engine.sequential else len(unique) + len(long)):
        jobs = [  # created once the slots are held: a failure to take them leaves no coroutine unawaited
            synthesize(
                engine.block, engine.voice, engine.speed, batch, request.chunk_store_url, first_index=batch[0].index
            )
            for batch in batches
        ]
        if long:
            jobs.append(run_long_jobs(engine, request, long))
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failures:
        raise failures[0]
    return {audio.key: audio for result in outcomes for audio in result}


@flow(name="narrate", description="Narrate a text or document into stored audio, subtitles and a manifest.")
async def narrate(request: NarrationRequest) -> Manifest:
    """Read, chunk, synthesize what the chunk store lacks, assemble once, publish atomically."""
    logger = get_run_logger()
    if request.storage:
        (await load_storage(request.storage)).register()
    block = await load_provider(request.provider)
    engine = engine_for(block, request.voice, request.speed)
    text = read_text(request.text, request.source)
    await engine.prepare()
    await asyncio.to_thread(check_writable, request.output)
    await asyncio.to_thread(check_writable, request.chunk_store_url)
    if block.global_limits:
        await ensure_global_limits(engine.label, block)

    kind = subtitle_kind(request.source)
    subtitles = (kind, read_subtitle_file(request.source)) if kind and engine.accepts_subtitle_files else None
    chunks = await plan(text, engine, subtitles)
    stored = await find_stored(request.chunk_store_url, [chunk.key for chunk in chunks])
    missing = [chunk for chunk in chunks if chunk.key not in stored]
    to_request = chunks if engine.sequential and missing else missing
    logger.info(
        "%d chunks for %s: %d in the chunk store, %d to synthesize",
        len(chunks),
        engine.label,
        len(chunks) - len(missing),
        len(missing),
    )
    run_id = flow_run.get_id() or "local"
    await progress.begin(run_id, len(chunks), "chunks synthesized", already_done=len(chunks) - len(missing))
    try:
        synthesized = await synthesize_missing(engine, request, to_request) if missing else {}
    finally:
        progress.end(run_id)

    audio = [stored.get(chunk.key) or synthesized[chunk.key] for chunk in chunks]
    name = name_for(request.source, text_sha256(text), request.name)
    output_kind = AudioKind(request.format.value)
    audio_url = join_url(request.output, f"{name}.{encoder_for(output_kind).extension}")
    pauses = [
        request.paragraph_pause_seconds if chunk.paragraph_end and i < len(chunks) - 1 else 0.0
        for i, chunk in enumerate(chunks)
    ]
    assembled = await assemble_audio(
        request.chunk_store_url, audio, pauses, output_kind, request.output_sample_rate, audio_url
    )
    billed = [a.billed_characters for a in audio if a.billed_characters is not None and not a.cached]
    manifest = Manifest(
        name=name,
        audio=assembled.url,
        subtitles={ext: assembled.url.rsplit(".", 1)[0] + f".{ext}" for ext in ("srt", "vtt")},
        format=output_kind.value,
        sample_rate=assembled.sample_rate,
        duration_seconds=assembled.duration_seconds,
        provider=engine.label,
        voice=engine.voice,
        speed=engine.speed,
        characters=sum(len(chunk.text) for chunk in chunks),
        billed_characters=sum(billed) if billed else None,
        chunks_synthesized=len({chunk.key for chunk in missing}),
        chunks_cached=len(chunks) - len(missing),
        source=request.source,
        source_sha256=text_sha256(text),
        created_at=datetime.now(UTC).isoformat(),
        chunks=[
            ManifestChunk(
                index=chunk.index,
                text_sha256=text_sha256(chunk.text),
                characters=len(chunk.text),
                start_seconds=timing.start_seconds,
                duration_seconds=timing.duration_seconds,
                cached=chunk_audio.cached,
                request_id=chunk_audio.request_id,
                paragraph_end=chunk.paragraph_end,
                key=chunk.key,
            )
            for chunk, chunk_audio, timing in zip(chunks, audio, assembled.timings, strict=True)
        ],
    )
    manifest_url = join_url(request.output, f"{name}.manifest.json")
    await publish_narration(manifest, [chunk.text for chunk in chunks], manifest_url)
    logger.info("narration written to %s (%.1f s)", manifest.audio, manifest.duration_seconds)
    return manifest
