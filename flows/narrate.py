"""The `narrate` flow: text in, one stored narration with subtitles and a manifest out."""

from __future__ import annotations

import asyncio

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.narrate_long_job import narrate_long_jobs
from flows.parameters import NarrationRequest
from speech_audio.encodings import AudioKind, encoder_for
from tasks.models import ChunkAudio, Manifest, PlannedChunk, text_sha256
from tasks.output import progress
from tasks.output.location import check_writable, join_url, name_for
from tasks.output.manifest import build_manifest
from tasks.output.task_runs import assemble_audio, publish_narration
from tasks.synthesis.batching import split_requests
from tasks.synthesis.block_loading import load_provider, load_storage
from tasks.synthesis.gate import gate_for
from tasks.synthesis.global_limits import ensure_global_limits, global_slots
from tasks.synthesis.providers import engine_for
from tasks.synthesis.providers.base import SpeechEngine
from tasks.synthesis.task_runs import find_stored, plan, synthesize_chunks
from tasks.text.intake import subtitle_format
from tasks.text.task_runs import read_document, read_subtitle_file


async def synthesize_missing(
    engine: SpeechEngine, request: NarrationRequest, missing: list[PlannedChunk]
) -> dict[str, ChunkAudio]:
    """Synthesize each missing key once, in concurrent batches and long jobs; raise the first failure after all settle."""
    batches, long = split_requests(engine, missing)
    synthesize = synthesize_chunks.with_options(retry_delay_seconds=engine.block.max_retry_wait_seconds)
    gate = gate_for(engine.label, engine.max_concurrency, engine.block.requests_per_second)
    wanted = 1 if engine.sequential else sum(map(len, batches)) + len(long)
    async with global_slots(engine.label, engine.block, gate, wanted):
        jobs = [  # created once the slots are held: a failure to take them leaves no coroutine unawaited
            synthesize(
                engine.block, engine.voice, engine.speed, batch, request.chunk_store_url, first_index=batch[0].index
            )
            for batch in batches
        ]
        if long:
            jobs.append(narrate_long_jobs(engine, request.provider, long, request.chunk_store_url))
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
    document = read_document(request.text, request.source, request.input_format, request.document_options)
    await engine.prepare()
    await asyncio.to_thread(check_writable, request.output)
    await asyncio.to_thread(check_writable, request.chunk_store_url)
    if block.global_limits:
        await ensure_global_limits(engine.label, block)

    kind = subtitle_format(request.source, request.input_format)
    subtitles = (kind, read_subtitle_file(request.source)) if kind and engine.accepts_subtitle_files else None
    chunks = await plan(document, engine, request.chunk_store_url, subtitles)
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
    spoken = document.spoken_text()
    name = name_for(request.source, text_sha256(spoken), request.name)
    output_kind = AudioKind(request.format.value)
    audio_url = join_url(request.output, f"{name}.{encoder_for(output_kind).extension}")
    pauses = [
        request.paragraph_pause_seconds if chunk.paragraph_end and i < len(chunks) - 1 else 0.0
        for i, chunk in enumerate(chunks)
    ]
    assembled = await assemble_audio(
        request.chunk_store_url, audio, pauses, output_kind, request.output_sample_rate, audio_url
    )
    manifest = build_manifest(
        name=name,
        assembled=assembled,
        output_format=output_kind.value,
        provider=engine.label,
        voice=engine.voice,
        speed=engine.speed,
        chunks=chunks,
        audio=audio,
        synthesized_keys=len({chunk.key for chunk in missing}),
        cached_chunks=len(chunks) - len(missing),
        source=request.source,
        source_sha256=text_sha256(spoken),
    )
    manifest_url = join_url(request.output, f"{name}.manifest.json")
    await publish_narration(manifest, [chunk.text for chunk in chunks], manifest_url)
    logger.info("narration written to %s (%.1f s)", manifest.audio, manifest.duration_seconds)
    return manifest
