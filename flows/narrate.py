"""The `narrate` flow: text in, one stored narration with subtitles and a manifest out."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from flows.allowed import enforce, roots_for_this_run, within_storage
from flows.narrate_long_job import narrate_long_jobs
from flows.parameters import NarrationRequest
from flows.run_heap import objects_before_runs_frozen
from flows.shared_tls import share_prefect_api_contexts
from speech_audio.encodings import AudioKind, encoder_for
from speech_audio.memory import return_freed_memory
from tasks.allowed_places import http_options
from tasks.models import ChunkAudio, Manifest, ManifestChapter, NarrationPlan, PlannedChunk, text_sha256
from tasks.output import progress
from tasks.output.assembly import AssembledAudio, segment_kind
from tasks.output.assembly_ahead import AssemblyAhead
from tasks.output.chunk_analysis import ChunkAnalysis
from tasks.output.cues import Cue, shape_cues
from tasks.output.location import SUBTITLE_FORMATS, check_writable, join_url, name_for, subtitle_urls
from tasks.output.loudness import ceiling_for
from tasks.output.manifest import NarrationFacts, build_manifest
from tasks.output.placement import ChunkPlacement, place_chunks
from tasks.output.subtitles import timed_sentences
from tasks.output.task_runs import analyse_chunks, assemble_audio, publish_narration, publish_subtitles
from tasks.output.versions import newer_published, prune_superseded
from tasks.store.local_lock import held_alone_on_disk, local_lock_path
from tasks.synthesis.batching import split_requests
from tasks.synthesis.block_loading import load_provider, load_storage
from tasks.synthesis.global_limits import ensure_global_limits, exclusive_name, held_alone, settle_provider_slots
from tasks.synthesis.ledger import RunLedger, check_budget, close_ledger, ledger_for
from tasks.synthesis.providers import engine_for
from tasks.synthesis.providers.base import SpeechEngine
from tasks.synthesis.task_runs import plan, synthesize_chunks
from tasks.text.chunking import has_words
from tasks.text.documents import Document
from tasks.text.intake import subtitle_format
from tasks.text.lexicon import Lexicon
from tasks.text.task_runs import read_document, read_lexicon, read_subtitle_file

# A run opens several Prefect API clients (the flow engine's, each task engine's, the blocks' loads), and
# Prefect builds a verified SSL context for each, certificates loaded anew (0.1-0.4 s here): wherever
# the flow runs (a worker's flow-run process, a warm runner, a test), they share one.
share_prefect_api_contexts()


async def synthesize_missing(
    engine: SpeechEngine, request: NarrationRequest, missing: list[PlannedChunk]
) -> dict[str, ChunkAudio]:
    """Synthesize each missing key once, in concurrent batches and long jobs; raise the first failure after all settle."""
    batches, long = split_requests(engine, missing)
    synthesize = synthesize_chunks.with_options(retry_delay_seconds=engine.block.max_retry_wait_seconds)
    # With global limits, each request (and long job) takes one of the provider's slots while in flight
    # (tasks/synthesis/slot_pool.py): holding them for the whole phase left a fleet's cap idle.
    jobs = [
        synthesize(
            engine.block,
            engine.voice,
            engine.speed,
            quote(batch),
            request.chunk_store_url,
            first_index=batch[0].index,
            analysis=(engine.language, loudness_setting(request)),
        )
        for batch in batches
    ]
    if long:
        jobs.append(narrate_long_jobs(engine, request.provider, long, request.chunk_store_url))
    try:
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    finally:
        await settle_provider_slots(engine.label, engine.block)
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failures:
        raise failures[0]
    return {audio.key: audio for result in outcomes for audio in result}


def loudness_setting(request: NarrationRequest) -> tuple[float, float] | None:
    """(target, limiter ceiling) for the request's format, or None when loudness is left alone."""
    if request.loudness_lufs is None:
        return None
    return request.loudness_lufs, ceiling_for(AudioKind(request.format.value))


def chapter_starts(document: Document, chunks: list[PlannedChunk]) -> list[tuple[str, int]]:
    """(title, first chunk) of every chapter that has something spoken in it."""
    starts: list[tuple[str, int]] = []
    for chapter in document.chapters:
        first = next((chunk.index for chunk in chunks if chunk.block >= chapter.block_index), None)
        if first is not None and (not starts or starts[-1][1] != first):
            starts.append((chapter.title, first))
    return starts


async def chapter_files(
    request: NarrationRequest,
    name: str,
    extension: str,
    kind: AudioKind,
    placements: list[ChunkPlacement],
    analyses: list[ChunkAnalysis],
    chapters: list[tuple[str, int]],
    assembled: AssembledAudio,
) -> tuple[list[ManifestChapter], dict[str, tuple[str, list[Cue]]]]:
    """The manifest's chapters; with `split_chapters`, also one file per chapter (its segments are the
    programme's, so nothing is encoded again) and its subtitles, url -> (format, cues), to publish."""
    entries: list[ManifestChapter] = []
    subtitles: dict[str, tuple[str, list[Cue]]] = {}
    if not chapters:
        return entries, subtitles
    ends = [first for _, first in chapters[1:]] + [len(placements)]
    for number, ((title, first), end, (_, start_seconds, end_seconds)) in enumerate(
        zip(chapters, ends, assembled.chapters, strict=True), start=1
    ):
        entry = ManifestChapter(title=title, start_seconds=start_seconds, end_seconds=end_seconds, first_chunk=first)
        if request.split_chapters:
            part = [placement.model_copy(update={"cut_after": False}) for placement in placements[first:end]]
            part[-1] = part[-1].model_copy(update={"pause_after": 0.0})
            stem = f"{name}.{number:02d}"
            audio = await assemble_audio(
                request.chunk_store_url,
                quote(part),
                kind,
                request.output_sample_rate,
                join_url(request.output, f"{stem}.{extension}"),
                [(title, 0)],
                title,
            )
            chapter_cues = shape_cues(timed_sentences(analyses[first:end], part, audio.timings))
            entry.audio = audio.url
            for ext in SUBTITLE_FORMATS:
                entry.subtitles[ext] = join_url(request.output, f"{stem}.{ext}")
                subtitles[entry.subtitles[ext]] = (ext, chapter_cues)
        entries.append(entry)
    return entries, subtitles


def dry_run_plan(
    engine: SpeechEngine, document: Document, chunks: list[PlannedChunk], stored: dict, to_bill: int
) -> NarrationPlan:
    """What the run would pay for, and what it would not, without paying."""
    price = engine.block.price_per_million_characters
    return NarrationPlan(
        provider=engine.label,
        chunks=len(chunks),
        characters=sum(len(chunk.text) for chunk in chunks),
        chunks_stored=sum(1 for chunk in chunks if chunk.key in stored),
        chunks_to_synthesize=len({chunk.key for chunk in chunks if chunk.key not in stored}),
        characters_to_bill=to_bill,
        blocks_kept_from_older_cutting=len({chunk.block for chunk in chunks if chunk.cutting == 1}),
        estimated_cost=None if price is None else round(to_bill * price / 1_000_000, 4),
        skipped=[block.text for block in document.blocks if not has_words(block.text)],
    )


def assembling_ahead(
    run_id: str,
    request: NarrationRequest,
    engine: SpeechEngine,
    chunks: list[PlannedChunk],
    stored: dict[str, ChunkAudio],
    chapters: list[tuple[str, int]],
) -> AssemblyAhead | None:
    """Segments made while the provider answers, where the format is joined from segments (not Opus or FLAC)."""
    kind = AudioKind(request.format.value)
    if segment_kind(kind) is None:
        return None
    return AssemblyAhead.begin(
        run_id,
        request.chunk_store_url,
        chunks,
        stored,
        kind,
        request.output_sample_rate,
        request.pauses,
        loudness_setting(request),
        engine.language,
        {first for _, first in chapters},
    )


def _output_held_alone(manifest_url: str) -> contextlib.AbstractAsyncContextManager[None]:
    """Whoever writes this narration holds it alone: by a file lock beside a local output, else a Prefect limit.

    A local output needs no server round trips (on SQLite those meet a locked database and wait seconds),
    and a process that dies drops its file lock at once instead of holding a lease until it expires.
    """
    if (lock_path := local_lock_path(manifest_url)) is not None:
        return held_alone_on_disk(lock_path)
    return held_alone(exclusive_name("output", manifest_url))


async def assemble_and_publish(
    request: NarrationRequest,
    engine: SpeechEngine,
    document: Document,
    chunks: list[PlannedChunk],
    stored: dict[str, ChunkAudio],
    synthesized: dict[str, ChunkAudio],
    missing: list[PlannedChunk],
    ledger: RunLedger,
    lexicon: Lexicon | None,
    cues: list[str] | None,
    chapters: list[tuple[str, int]],
    read_at: datetime,
    ahead: AssemblyAhead | None = None,
) -> Manifest:
    """Measure what is left, place every chunk, and write the audio, subtitles and manifest as one version."""
    audio = [stored.get(chunk.key) or synthesized[chunk.key] for chunk in chunks]
    spoken = document.spoken_text()
    name = name_for(request.source, text_sha256(spoken), request.name)
    output_kind = AudioKind(request.format.value)
    logger = get_run_logger()
    extension = encoder_for(output_kind).extension
    loudness = loudness_setting(request)
    analyses = await analyse_chunks(
        request.chunk_store_url, quote(chunks), quote(audio), engine.language, loudness, cues
    )
    # The synthesis phase's answers and measurements are freed by now: hand that memory back, so the last
    # phase (the subtitles and manifest of a long book) grows from what is in use, not from its high water.
    return_freed_memory()
    placements = place_chunks(
        chunks, audio, analyses, request.pauses, request.loudness_lufs, output_kind, {first for _, first in chapters}
    )
    manifest_url = join_url(request.output, f"{name}.manifest.json")
    # One version wins, whole: runs writing the same narration take turns, and a run whose source was
    # read before the published narration's never replaces it.
    async with _output_held_alone(manifest_url):
        if (published := await asyncio.to_thread(newer_published, manifest_url, read_at)) is not None:
            logger.warning("%s was published from a source read after this run read it: kept", manifest_url)
            return published
        assembled = await assemble_audio(
            request.chunk_store_url,
            quote(placements),
            output_kind,
            request.output_sample_rate,
            join_url(request.output, f"{name}.{extension}"),
            chapters,
            document.title,
            ahead.pieces_folder if ahead else None,
        )
        if ahead is not None:
            ahead.start_discarding()
        sentences = timed_sentences(analyses, placements, assembled.timings)
        chapter_entries, subtitle_files = await chapter_files(
            request, name, extension, output_kind, placements, analyses, chapters, assembled
        )
        cues = shape_cues(sentences)
        subtitle_files |= {url: (kind, cues) for kind, url in subtitle_urls(assembled.url).items()}
        await publish_subtitles(quote(subtitle_files))
        del cues, subtitle_files  # a long book's cues are megabytes: let them go before its manifest is made
        facts = NarrationFacts(
            name=name,
            output_format=output_kind.value,
            provider=engine.label,
            voice=engine.voice,
            speed=engine.speed,
            source=request.source,
            source_sha256=text_sha256(spoken),
            chunks=chunks,
            audio=audio,
            analyses=analyses,
            placements=placements,
            synthesized_keys=len({chunk.key for chunk in missing}),
            cached_chunks=len(chunks) - len(missing),
            loudness_target=request.loudness_lufs,
            skipped=[block.text for block in document.blocks if not has_words(block.text)],
            ledger=ledger,
            lexicon_version=lexicon.version if lexicon else None,
        )
        manifest = build_manifest(facts, assembled, sentences, chapter_entries)
        del sentences  # likewise, before it is serialized: the manifest holds its own copy of them
        manifest.settings_sha256 = request.settings_sha256()
        manifest.source_read_at = read_at.isoformat()
        await publish_narration(quote(manifest), manifest_url)
        await asyncio.to_thread(prune_superseded, request.output, name, manifest)
    logger.info("narration written to %s (%.1f s)", manifest.audio, manifest.duration_seconds)
    return manifest


# Large task arguments (the document, chunk lists, placements, the manifest) go in `quote(...)`: Prefect
# would otherwise walk every item of them twice per task call looking for futures, which cost more than
# the work of the tasks that take them.
@flow(name="narrate", description="Narrate a text or document into stored audio, subtitles and a manifest.")
async def narrate(request: NarrationRequest) -> Manifest | NarrationPlan:
    """Read, chunk, synthesize what the chunk store lacks, assemble once, publish atomically."""
    with objects_before_runs_frozen():
        return await narrate_request(request)


async def narrate_request(request: NarrationRequest) -> Manifest | NarrationPlan:
    """The narrate flow's body."""
    logger = get_run_logger()
    roots = roots_for_this_run()
    enforce(
        roots,
        source=request.source,
        output=request.output,
        chunk_store=request.chunk_store_url,
        lexicon=request.lexicon,
    )
    if request.storage:
        storage = await load_storage(request.storage)
        within_storage(storage, source=request.source, output=request.output, chunk_store=request.chunk_store_url)
        storage.register()
    read_at = datetime.now(UTC)
    # Independent round trips, side by side: the block from the API, the document from its source.
    block, document = await asyncio.gather(
        load_provider(request.provider),
        read_document(
            request.text, request.source, request.input_format, request.document_options, http_options(request.source)
        ),
    )
    engine = engine_for(block, request.voice, request.speed)
    await engine.prepare()
    await asyncio.gather(
        asyncio.to_thread(check_writable, request.output), asyncio.to_thread(check_writable, request.chunk_store_url)
    )
    kind = subtitle_format(request.source, request.input_format)
    subtitles = (kind, read_subtitle_file(request.source)) if kind and engine.accepts_subtitle_files else None
    lexicon = read_lexicon(request.lexicon) if request.lexicon else None
    planning = plan(quote(document), engine, request.chunk_store_url, subtitles, lexicon)
    if block.global_limits and not request.dry_run:
        # the limits' round trips to the API while the chunks are cut and looked up, not before; both end
        # before either's failure is raised, the plan's first (a task run is never left behind)
        planned, limits = await asyncio.gather(
            planning, ensure_global_limits(engine.label, block), return_exceptions=True
        )
        for outcome in (planned, limits):
            if isinstance(outcome, BaseException):
                raise outcome
        chunks, stored = planned
    else:
        chunks, stored = await planning
    missing = [chunk for chunk in chunks if chunk.key not in stored]
    to_request = chunks if engine.sequential and missing else missing
    logger.info(
        "%d chunks for %s: %d in the chunk store, %d to synthesize",
        len(chunks),
        engine.label,
        len(chunks) - len(missing),
        len(missing),
    )
    unique_missing = {chunk.key: chunk for chunk in to_request}
    to_bill = sum(len(chunk.text) for chunk in unique_missing.values())
    if request.dry_run:
        return dry_run_plan(engine, document, chunks, stored, to_bill)
    check_budget(to_bill, request.max_billed_characters)
    run_id = flow_run.get_id() or "local"
    ledger = ledger_for(run_id, block.max_attempts, request.max_billed_characters)
    progress.begin(run_id, len(chunks), "chunks synthesized", already_done=len(chunks) - len(missing))
    chapters = chapter_starts(document, chunks)
    # a subtitle file sent whole comes back as one answer: its own cues are timed in it, one by one
    cues = [cue.text for cue in document.cues if has_words(cue.text)] if subtitles else None
    ahead = assembling_ahead(run_id, request, engine, chunks, stored, chapters) if missing and not cues else None
    try:
        synthesized = await synthesize_missing(engine, request, to_request) if missing else {}
    except BaseException:
        if ahead is not None:
            await ahead.end(run_id, wanted=False)
            await ahead.discard()
        raise
    finally:
        progress.end(run_id)
        close_ledger(run_id)
    try:
        if ahead is not None:
            await ahead.end(run_id, wanted=True)
        return await assemble_and_publish(
            request,
            engine,
            document,
            chunks,
            stored,
            synthesized,
            missing,
            ledger,
            lexicon,
            cues,
            chapters,
            read_at,
            ahead,
        )
    finally:
        if ahead is not None:
            await ahead.discard()
