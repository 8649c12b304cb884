"""The silence between chunks: inside a block, after a block, around a heading.

Each chunk's own leading and trailing silence is trimmed (tasks.output.placement), so these are
the pauses a listener hears, the same whichever provider spoke the chunks.
"""

from __future__ import annotations

from pydantic import BaseModel

from tasks.models import ChunkText


class Pauses(BaseModel):
    """Silence added after a chunk: inside a block, after a block, around a heading."""

    sentence: float = 0.35
    paragraph: float = 0.7
    heading: float = 1.0


def pause_after(chunks: list[ChunkText], i: int, pauses: Pauses) -> float:
    """Silence after chunk i: none after the last, a heading's around headings, a paragraph's after a block."""
    if i == len(chunks) - 1:
        return 0.0
    chunk, following = chunks[i], chunks[i + 1]
    if not chunk.paragraph_end:
        return pauses.sentence
    return pauses.heading if "heading" in (chunk.kind, following.kind) else pauses.paragraph
