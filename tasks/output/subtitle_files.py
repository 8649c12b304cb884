"""Subtitle files from cues, written by pysubs2 straight to a stream, their events made one at a time."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

import pysubs2

from tasks.output.cues import Cue
from tasks.output.location import SUBTITLE_FORMATS

# pysubs2 reads "\N", "\n" and "\h" in event text as line break and hard space: a backslash
# written by the author before those letters gets an invisible word joiner so it stays a backslash.
_SSA_ESCAPE = re.compile(r"\\(?=[nNh])")


def _event_text(cue: Cue, *, vtt: bool) -> str:
    lines = [_SSA_ESCAPE.sub("\\\\\u2060", line) for line in cue.lines]
    if vtt:
        # pysubs2 writes WebVTT text as it is; "&", "<" and ">" (hence "-->") must be character references.
        lines = [line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for line in lines]
    return r"\N".join(lines)


def _event(cue: Cue, *, vtt: bool) -> pysubs2.SSAEvent:
    return pysubs2.SSAEvent(
        start=round(cue.start_seconds * 1000), end=round(cue.end_seconds * 1000), text=_event_text(cue, vtt=vtt)
    )


class _EventsInOrder:
    """Events made as they are iterated; sorting them does nothing, because cues come in order."""

    def __init__(self, make: Callable[[], Iterator[pysubs2.SSAEvent]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[pysubs2.SSAEvent]:
        return self._make()

    def sort(self, **_: object) -> None:
        """Cues are in order and do not overlap (shape_cues makes them so): already sorted by start."""


class _CueEvents(pysubs2.SSAFile):
    """A subtitle file whose events are made from the cues one at a time, as pysubs2 writes them.

    pysubs2's SubRip and WebVTT writers take the events to write from `get_text_events()` (WebVTT's sorts
    them by start first). Made all at once, a 20-hour book's tens of thousands of events took 6 MB at the
    run's end, its memory's highest point; made as written, each is let go once written. The tests compare
    the files with those of an SSAFile holding every event, so a pysubs2 that wrote them otherwise is caught.
    """

    def __init__(self, cues: Sequence[Cue], *, vtt: bool) -> None:
        super().__init__()
        self._cues = cues
        self._vtt = vtt

    def get_text_events(self) -> _EventsInOrder:  # type: ignore[override]
        return _EventsInOrder(lambda: (_event(cue, vtt=self._vtt) for cue in self._cues))


def check_subtitle_format(kind: str) -> None:
    if kind not in SUBTITLE_FORMATS:
        raise ValueError(f"subtitle format must be one of {SUBTITLE_FORMATS}, got {kind!r}")


def write_subtitles(cues: Sequence[Cue], kind: str, stream: TextIO) -> None:
    """Write the cues to a text stream as `kind`: "srt" (text as written: SubRip has no escapes) or "vtt"
    ("&", "<" and ">" escaped).

    Straight to the stream: a long book's subtitles are megabytes, and a rendered string would be held
    (with its buffer's copy) beside the cues while it is written.
    """
    check_subtitle_format(kind)
    # keep_ssa_tags: text in braces is the author's, not SubStation override tags to drop.
    _CueEvents(cues, vtt=kind == "vtt").to_file(stream, kind, keep_ssa_tags=True)
