"""Planning: chunk the text for one provider and key every chunk by what shapes its sound."""

from __future__ import annotations

from tasks.errors import NarrationInputError
from tasks.models import PlannedChunk
from tasks.store.chunk_keys import chunk_key
from tasks.synthesis.providers.base import SpeechEngine
from tasks.text.chunking import plan_chunks


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

