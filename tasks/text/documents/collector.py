"""Gathers the blocks a reader finds, dropping empty ones and starting chapters at headings."""

from __future__ import annotations

from .model import Block, Chapter, DocumentOptions
from .spoken import clean_text, end_sentence, has_words

# Kinds read as sentences of their own even when the source leaves the full stop out.
_SENTENCE_KINDS = frozenset({"list_item", "table_row"})


class BlockCollector:
    """Blocks in reading order, the chapters their headings start, and the first heading (a fallback title)."""

    def __init__(self, options: DocumentOptions, *, keep_wordless: bool = False) -> None:
        self.options = options
        self.keep_wordless = keep_wordless  # plain text keeps a paragraph like '...' as it always did
        self.blocks: list[Block] = []
        self.heading_chapters: list[Chapter] = []
        self.first_heading: str | None = None

    def add(self, text: str, kind: str, level: int = 0) -> Block | None:
        """Clean `text` and keep it as a block, unless nothing speakable is left."""
        text = clean_text(text)
        if not text or not (self.keep_wordless or has_words(text)):
            return None
        if kind in _SENTENCE_KINDS:
            text = end_sentence(text)
        block = Block(text, kind, level)
        if kind == "heading":
            if self.first_heading is None:
                self.first_heading = text
            if level <= self.options.chapter_levels:
                self.heading_chapters.append(Chapter(text, len(self.blocks), level))
        self.blocks.append(block)
        return block
