"""SRT and WebVTT cues from the assembled audio's own sample counts, one cue per chunk."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Cue:
    start_seconds: float
    end_seconds: float
    text: str


def _timestamp(seconds: float, separator: str) -> str:
    milliseconds = round(seconds * 1000)
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"


def _cue_text(text: str) -> str:
    # A blank line ends a cue in both formats; "-->" would read as a timing line in WebVTT.
    return " ".join(text.split()).replace("-->", "→")


def to_srt(cues: Iterable[Cue]) -> str:
    blocks = [
        f"{number}\n{_timestamp(cue.start_seconds, ',')} --> {_timestamp(cue.end_seconds, ',')}\n{_cue_text(cue.text)}\n"
        for number, cue in enumerate(cues, start=1)
    ]
    return "\n".join(blocks)


def to_vtt(cues: Iterable[Cue]) -> str:
    blocks = [
        f"{_timestamp(cue.start_seconds, '.')} --> {_timestamp(cue.end_seconds, '.')}\n"
        f"{_cue_text(cue.text).replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}\n"
        for cue in cues
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)
