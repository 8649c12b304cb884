"""The output room's Prefect task runs: analysis, assembly, and publishing with its artifact and event.

Async on purpose: they share the flow's API client instead of building their own.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from prefect import task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from speech_audio.encodings import AudioKind
from speech_audio.memory import return_large_buffers
from tasks.models import ChunkAudio, Manifest, PlannedChunk
from tasks.output.assembly import AssembledAudio, write_narration
from tasks.output.chunk_analysis import ChunkAnalysis, analysis_for, recent_analysis
from tasks.output.cues import Cue
from tasks.output.placement import ChunkPlacement
from tasks.output.publishing import summary_markdown, write_manifest, write_subtitle_file
from tasks.store.chunk_store import ChunkStore

AUDIO_CREATED_EVENT = "narration.audio.created"
return_large_buffers()  # imported with the flow, before its worker threads start: they all get the setting
# One at a time: a long chunk's analysis holds several copies of its samples (a 100-second chunk, about
# 100 MB), and chunks measured side by side tripled a 20-hour book's peak memory.
ANALYSIS_THREADS = 1


@task(name="analyse-chunks", cache_policy=NO_CACHE)
async def analyse_chunks(
    store_url: str,
    chunks: list[PlannedChunk],
    audio: list[ChunkAudio],
    language: str,
    loudness: tuple[float, float] | None = None,
    units: list[str] | None = None,
) -> list[ChunkAnalysis]:
    """Each chunk's analysis: kept ones read, new ones measured (in worker threads) and kept; with `loudness`
    (target, ceiling), each chunk's gain for it too."""
    store = ChunkStore(store_url)
    loop = asyncio.get_running_loop()
    analyses: list[ChunkAnalysis | None] = [
        recent_analysis(store, stored, loudness, units) for stored in audio
    ]  # measured while the run waited for the provider
    missing = [i for i, analysis in enumerate(analyses) if analysis is None]
    if missing:
        with ThreadPoolExecutor(ANALYSIS_THREADS, thread_name_prefix="analysis") as pool:
            found = await asyncio.gather(
                *(
                    loop.run_in_executor(pool, analysis_for, store, audio[i], chunks[i].text, language, loudness, units)
                    for i in missing
                )
            )
        for i, analysis in zip(missing, found, strict=True):
            analyses[i] = analysis
    return analyses  # type: ignore[return-value]  # every entry filled above


@task(name="assemble-audio", cache_policy=NO_CACHE)
async def assemble_audio(
    store_url: str,
    placements: list[ChunkPlacement],
    kind: AudioKind,
    sample_rate: int,
    destination: str,
    chapters: list[tuple[str, int]] | None = None,
    title: str | None = None,
    pieces_folder: str | None = None,
) -> AssembledAudio:
    """Write the narration file from the stored chunks (and pieces made ahead), off the event loop."""
    return await asyncio.to_thread(
        write_narration, store_url, placements, kind, sample_rate, destination, chapters, title, pieces_folder
    )


@task(name="publish-subtitles", cache_policy=NO_CACHE)
async def publish_subtitles(files: dict[str, tuple[str, list[Cue]]]) -> None:
    """Write each subtitle file, url -> (format, cues): the programme's, and each chapter file's.

    Written before the manifest is built, so that a long book's cues (megabytes) are let go before
    its manifest is made and serialized; the manifest is still published last.
    """
    for url, (kind, cues) in files.items():
        await asyncio.to_thread(write_subtitle_file, url, kind, cues)


@task(name="publish-narration", cache_policy=NO_CACHE)
async def publish_narration(manifest: Manifest, manifest_url: str) -> None:
    """Write the manifest, which makes the files it names the narration's current version; an artifact;
    `narration.audio.created`.

    Returns nothing: the caller holds the manifest, and Prefect walks every field of a task's result.
    """
    await asyncio.to_thread(write_manifest, manifest, manifest_url)
    await acreate_markdown_artifact(
        markdown=summary_markdown(manifest), key="narration-summary", description=f"Narration {manifest.name}"
    )
    emit_event(
        event=AUDIO_CREATED_EVENT,
        resource={"prefect.resource.id": f"narration.audio.{manifest.audio}", "prefect.resource.name": manifest.name},
        payload={
            "audio": manifest.audio,
            "manifest_url": manifest_url,
            "manifest": manifest.model_dump(mode="json", exclude={"chunks", "sentences"}),
        },
    )
