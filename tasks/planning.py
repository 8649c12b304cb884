"""Planning: chunk the text for the provider and key every chunk by what shapes its sound."""

from __future__ import annotations

import fsspec
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.chunk_store import ChunkStore, chunk_key
from tasks.chunking import plan_chunks
from tasks.models import ChunkAudio, PlannedChunk
from tasks.providers.base import SpeechEngine


@task(name="plan-chunks", cache_policy=NO_CACHE)
def plan(text: str, engine: SpeechEngine) -> list[PlannedChunk]:
    """Chunks within the provider's limit, each with its content key and continuity context."""
    chunks = plan_chunks(text, engine.block.chunk_limit, engine.language)
    identity = engine.identity()
    return [
        PlannedChunk(**chunk.model_dump(), key=chunk_key(chunk.text, identity, context), context=context)
        for chunk, context in zip(chunks, engine.contexts(chunks), strict=True)
    ]


@task(name="find-stored-chunks", cache_policy=NO_CACHE)
def find_stored(store_url: str, keys: list[str]) -> dict[str, ChunkAudio]:
    """Chunks already in the store, fetched in one batched read (concurrent on object stores)."""
    store = ChunkStore(store_url)
    unique = list(dict.fromkeys(keys))
    paths = {store._record_path(key): key for key in unique}
    try:
        records = store.fs.cat(list(paths), on_error="omit")
    except FileNotFoundError:
        records = {}
    found: dict[str, ChunkAudio] = {}
    for path, record in records.items():
        key = paths.get(path) or paths.get(fsspec.core.strip_protocol(path))
        if key and isinstance(record, bytes):
            found[key] = ChunkAudio.model_validate_json(record).model_copy(update={"cached": True})
    return found
