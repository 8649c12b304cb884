"""What every reader produces: spoken blocks, chapters and (for subtitle sources) timed cues."""

from __future__ import annotations

from dataclasses import dataclass, field

# A chunk never crosses a block, so these are also the smallest units an edit re-synthesizes.
BLOCK_KINDS = frozenset({"heading", "paragraph", "list_item", "quote", "table_row", "cue_group"})


@dataclass(frozen=True, slots=True)
class Block:
    """One spoken unit: `text` is exactly what is spoken and shown in subtitles (no markup, NFC, single spaces)."""

    text: str
    kind: str
    level: int = 0  # heading level, or list nesting depth for list items

    def __post_init__(self) -> None:
        if self.kind not in BLOCK_KINDS:
            raise ValueError(f"unknown block kind {self.kind!r}; expected one of {sorted(BLOCK_KINDS)}")
        if not self.text or self.text != self.text.strip():
            raise ValueError(f"block text must be non-empty and stripped, got {self.text!r}")


@dataclass(frozen=True, slots=True)
class Chapter:
    """A chapter starts at `blocks[block_index]`; `level` 1 is a top-level chapter."""

    title: str
    block_index: int
    level: int


@dataclass(frozen=True, slots=True)
class SourceCue:
    """A cue of a subtitle source, kept with its times so a narration can follow the original timing."""

    start_seconds: float
    end_seconds: float
    text: str


@dataclass(frozen=True, slots=True)
class DocumentOptions:
    """How a document is read: which headings start chapters, and whether tables are spoken."""

    chapter_levels: int = 2  # headings of level <= this start chapters (0: none)
    read_tables: bool = False  # tables are usually reference material, tiresome to listen to

    def __post_init__(self) -> None:
        if not 0 <= self.chapter_levels <= 6:
            raise ValueError(f"chapter_levels must be 0-6, got {self.chapter_levels}")


@dataclass(frozen=True, slots=True)
class Document:
    """A source read for speaking, whatever its format."""

    format: str  # text, markdown, html, epub, srt or vtt
    blocks: list[Block]
    chapters: list[Chapter] = field(default_factory=list)
    title: str | None = None
    cues: list[SourceCue] = field(default_factory=list)  # only for srt and vtt sources

    def spoken_text(self) -> str:
        """Everything spoken, blocks separated by blank lines: stable input for content hashes."""
        return "\n\n".join(block.text for block in self.blocks)
