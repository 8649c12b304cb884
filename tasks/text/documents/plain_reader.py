"""Plain text: paragraphs at blank lines, single newlines joined with spaces (as intake always did)."""

from __future__ import annotations

import re

from .collector import BlockCollector
from .model import Document, DocumentOptions

_BLANK_LINES = re.compile(r"\n\s*\n")


def read_plain(text: str, options: DocumentOptions) -> Document:
    """Every non-blank paragraph is a block, even one without words, so plain text reads as before."""
    collector = BlockCollector(options, keep_wordless=True)
    for paragraph in _BLANK_LINES.split(text.replace("\r\n", "\n").replace("\r", "\n")):
        collector.add(paragraph, "paragraph")
    return Document(format="text", blocks=collector.blocks)
