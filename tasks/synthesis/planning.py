"""Planning: cut the document into chunks for one provider and key every chunk by what shapes its sound.

This is where the chunk contract (README, "The chunk contract") is applied: blocks are cut by
content (tasks.text.chunking), every chunk is keyed (tasks.store.chunk_keys), and a block whose
chunks a user already paid for under the previous cutting keeps that cutting, so that a new
version of the chunker never makes anyone pay again for audio they have.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tasks.errors import NarrationInputError
from tasks.models import ChunkText, PlannedChunk
from tasks.store.chunk_keys import chunk_key
from tasks.synthesis.providers.base import SpeechEngine
from tasks.text.chunking import CUTTING_VERSION, content_chunks, greedy_chunks, has_words
from tasks.text.documents import Block, Document
from tasks.text.lexicon import Lexicon, respell

StoredKeys = Callable[[list[str]], set[str]]


def _no_store(keys: list[str]) -> set[str]:
    return set()


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


def _chunk_texts(blocks: Iterable[tuple[int, Block, list[str], int]]) -> list[ChunkText]:
    """ChunkTexts in document order from (block index, block, its chunk texts, cutting version)."""
    chunks: list[ChunkText] = []
    for block_index, block, texts, cutting in blocks:
        for position, text in enumerate(texts):
            chunks.append(
                ChunkText(
                    index=len(chunks),
                    text=text,
                    paragraph_end=position == len(texts) - 1,
                    block=block_index,
                    kind=block.kind,
                    cutting=cutting,
                )
            )
    return chunks


def _with_lexicon(chunks: list[ChunkText], lexicon: Lexicon | None, engine: SpeechEngine) -> list[ChunkText]:
    """Each chunk with the lexicon entries that occur in it and its respelled text (checked against the limit)."""
    if lexicon is None:
        return chunks
    applied = []
    for chunk in chunks:
        matches = lexicon.find(chunk.text)
        if not matches:
            applied.append(chunk)
            continue
        say = respell(chunk.text, matches).text
        if len(say) > engine.block.max_characters:
            raise NarrationInputError(
                "lexicon",
                f"chunk {chunk.index} respelled is {len(say):,} characters, over {engine.label}'s limit of "
                f"{engine.block.max_characters:,}; shorten the respellings or the block's chunk_characters",
            )
        entries = {match.entry.written: match.entry.canonical() for match in matches}
        applied.append(chunk.model_copy(update={"say": say, "lexicon": entries}))
    return applied


def _keyed(chunks: list[ChunkText], engine: SpeechEngine, lexicon: Lexicon | None = None) -> list[PlannedChunk]:
    """Keys and contexts; only the lexicon entries that occur in a chunk enter its key, and only when some do."""
    chunks = _with_lexicon(chunks, lexicon, engine)
    identity = engine.identity()
    return [
        PlannedChunk(
            **chunk.model_dump(),
            key=chunk_key(chunk.text, identity | {"lexicon": chunk.lexicon} if chunk.lexicon else identity, context),
            context=context,
        )
        for chunk, context in zip(chunks, engine.contexts(chunks), strict=True)
    ]


def plan_for(
    document: Document,
    engine: SpeechEngine,
    stored_keys: StoredKeys = _no_store,
    subtitles: tuple[str, str] | None = None,
    lexicon: Lexicon | None = None,
) -> list[PlannedChunk]:
    """Chunks within the provider's limit, each with its content key and continuity context.

    `stored_keys(keys)` answers which keys the chunk store holds: a block whose version-1 chunks
    are all stored keeps them. `subtitles` is (kind, file) for an SRT or WebVTT source; providers
    that take those bodies get it whole.
    """
    if subtitles and engine.accepts_subtitle_files:
        cue_text = " ".join(block.text for block in document.blocks)  # as version 1 joined cue lines
        return subtitle_chunk(cue_text, subtitles[0], subtitles[1], engine)
    limit, language = engine.block.chunk_limit, engine.language
    spoken = [(i, block) for i, block in enumerate(document.blocks) if has_words(block.text)]
    current = [content_chunks(block.text, limit, language) for _, block in spoken]
    legacy = [greedy_chunks(block.text, limit, language) for _, block in spoken]
    differs = [i for i, (new, old) in enumerate(zip(current, legacy, strict=True)) if new != old]
    chosen = list(current)
    if differs:
        legacy_plan = _keyed(_chunk_texts((i, b, legacy[n], 1) for n, (i, b) in enumerate(spoken)), engine, lexicon)
        by_block: dict[int, list[str]] = {}
        for chunk in legacy_plan:
            by_block.setdefault(chunk.block, []).append(chunk.key)
        candidates = [key for n in differs for key in by_block[spoken[n][0]]]
        held = stored_keys(candidates) if candidates else set()
        for n in differs:
            if all(key in held for key in by_block[spoken[n][0]]):
                chosen[n] = legacy[n]
    versions = [
        1 if chosen[n] is legacy[n] and chosen[n] != current[n] else CUTTING_VERSION for n in range(len(chosen))
    ]
    return _keyed(_chunk_texts((i, b, chosen[n], versions[n]) for n, (i, b) in enumerate(spoken)), engine, lexicon)
