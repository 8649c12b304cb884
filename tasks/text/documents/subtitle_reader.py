"""SRT and WebVTT through pysubs2: cue text only (no STYLE, NOTE or REGION), grouped into blocks by pauses."""

from __future__ import annotations

import html
import re

import pysubs2

from tasks.errors import NarrationInputError

from .collector import BlockCollector
from .model import Document, DocumentOptions, SourceCue
from .spoken import clean_text, has_words

# A pause this long between cues starts a new block (a new paragraph of speech).
GROUP_GAP_SECONDS = 2.0
# Blocks stay about this short, so a chunk can follow them; a new block starts at the next cue boundary.
MAX_GROUP_CHARACTERS = 1000

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# WebVTT comment, style and region blocks; pysubs2 skips them before the first cue but, after a cue,
# reads them as more of that cue's text, so they are removed before parsing.
_NON_CUE_BLOCK = re.compile(r"(?:NOTE|STYLE|REGION)(?:[ \t]|$)")


def _without_non_cue_blocks(text: str) -> str:
    blocks = _BLANK_LINE.split(text.replace("\r\n", "\n").replace("\r", "\n"))
    kept = [
        block
        for block in blocks
        if not (_NON_CUE_BLOCK.match(block.lstrip("\n")) and "-->" not in block)  # a cue always has a timing line
    ]
    return "\n\n".join(kept)


def _cue_groups(cues: list[SourceCue]) -> list[str]:
    groups: list[list[str]] = []
    length = 0
    previous_end: float | None = None
    for cue in cues:
        if not has_words(cue.text):  # '♪' keeps its time in `cues` but is not spoken
            continue
        pause = previous_end is not None and cue.start_seconds - previous_end >= GROUP_GAP_SECONDS
        if not groups or pause or length + 1 + len(cue.text) > MAX_GROUP_CHARACTERS:
            groups.append([])
            length = -1
        groups[-1].append(cue.text)
        length += 1 + len(cue.text)
        previous_end = cue.end_seconds
    return [" ".join(group) for group in groups]


def read_subtitles(text: str, format: str, options: DocumentOptions) -> Document:
    """An SRT or VTT source: every cue kept with its times in `cues`; blocks are `cue_group`s."""
    try:
        subtitles = pysubs2.SSAFile.from_string(_without_non_cue_blocks(text), format_=format)
    except Exception as error:  # pysubs2 raises its own and plain ValueErrors on malformed files
        raise NarrationInputError("source", f"cannot read the {format.upper()} subtitles: {error}") from None
    cues = []
    for event in subtitles:
        if event.is_comment:
            continue
        # plaintext drops tags and turns \N into a newline; VTT escapes &amp; &lt; and friends
        cue_text = clean_text(html.unescape(event.plaintext))
        if cue_text:
            cues.append(SourceCue(event.start / 1000, event.end / 1000, cue_text))
    collector = BlockCollector(options)
    for group in _cue_groups(cues):
        collector.add(group, "cue_group")
    return Document(format=format, blocks=collector.blocks, cues=cues)
