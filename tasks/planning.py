"""Planning: chunk the text for the provider and key every chunk by what shapes its sound."""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.chunk_store import ChunkStore, chunk_key
from tasks.chunking import plan_chunks
from tasks.errors import NarrationInputError
from tasks.models import ChunkAudio, PlannedChunk
from tasks.providers.base import SpeechEngine


def subtitle_chunk(text: str, kind: str, document: str, engine: SpeechEngine) -> list[PlannedChunk]:
    """The whole subtitle file as one chunk, sent as what it is (its cue timing is the provider's business)."""
    if len(text) > engine.block.max_characters:
        raise NarrationInputError(
            "source",
            f"the subtitle file holds {len(text):,} characters of text, over {engine.label}'s limit of {engine.block.max_characters:,}",
        )
    context = {"body_type": kind, "body": document}
    return [
        PlannedChunk(
            index=0, text=text, paragraph_end=True, key=chunk_key(text, engine.identity(), context), context=context
        )
    ]


def plan_for(text: str, engine: SpeechEngine, subtitles: tuple[str, str] | None = None) -> list[PlannedChunk]:
    """Chunks within the provider's limit, each with its content key and continuity context.

    `subtitles` is (kind, file) for an SRT or WebVTT source; providers that take those bodies get it whole.
    """
    if subtitles and engine.accepts_subtitle_files:
        return subtitle_chunk(text, subtitles[0], subtitles[1], engine)
    chunks = plan_chunks(text, engine.block.chunk_limit, engine.language)
    identity = engine.identity()
    return [
        PlannedChunk(**chunk.model_dump(), key=chunk_key(chunk.text, identity, context), context=context)
        for chunk, context in zip(chunks, engine.contexts(chunks), strict=True)
    ]


# The tasks are async on purpose: a sync task run in an async flow builds its own Prefect API
# client (and TLS context), about 0.25 s each (B1 profile); these share the flow's.


@task(name="plan-chunks", cache_policy=NO_CACHE)
async def plan(text: str, engine: SpeechEngine, subtitles: tuple[str, str] | None = None) -> list[PlannedChunk]:
    """plan_for, as a task run, off the event loop (chunking a book takes a while)."""
    return await asyncio.to_thread(plan_for, text, engine, subtitles)


@task(name="find-stored-chunks", cache_policy=NO_CACHE)
async def find_stored(store_url: str, keys: list[str]) -> dict[str, ChunkAudio]:
    """Chunks already in the store, fetched in one batched read (concurrent on object stores)."""
    return await asyncio.to_thread(ChunkStore(store_url).get_many, keys)
