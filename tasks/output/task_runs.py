"""The output room's Prefect task runs: assembly, and publishing with its artifact and event.

Async on purpose: they share the flow's API client instead of building their own.
"""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from speech_audio.encodings import AudioKind
from tasks.models import ChunkAudio, Manifest
from tasks.output.assembly import AssembledAudio, write_narration
from tasks.output.publishing import summary_markdown, write_subtitles_and_manifest

AUDIO_CREATED_EVENT = "narration.audio.created"


@task(name="assemble-audio", cache_policy=NO_CACHE)
async def assemble_audio(
    store_url: str,
    chunks: list[ChunkAudio],
    pauses: list[float],
    kind: AudioKind,
    sample_rate: int,
    destination: str,
) -> AssembledAudio:
    """Write the narration file from the stored chunks, off the event loop."""
    return await asyncio.to_thread(write_narration, store_url, chunks, pauses, kind, sample_rate, destination)


@task(name="publish-narration", cache_policy=NO_CACHE)
async def publish_narration(manifest: Manifest, texts: list[str], manifest_url: str) -> Manifest:
    """Write .srt, .vtt and the manifest; record a summary artifact; emit `narration.audio.created`."""
    await asyncio.to_thread(write_subtitles_and_manifest, manifest, texts, manifest_url)
    await acreate_markdown_artifact(
        markdown=summary_markdown(manifest), key="narration-summary", description=f"Narration {manifest.name}"
    )
    emit_event(
        event=AUDIO_CREATED_EVENT,
        resource={"prefect.resource.id": f"narration.audio.{manifest.audio}", "prefect.resource.name": manifest.name},
        payload={
            "audio": manifest.audio,
            "manifest_url": manifest_url,
            "manifest": manifest.model_dump(mode="json", exclude={"chunks"}),
        },
    )
    return manifest
