"""Where and how each stored chunk goes into the narration: its trimmed speech, its gain, the pause after it.

Decided from the chunk's analysis alone (never from the rest of the programme), so an edit
elsewhere leaves a chunk's samples, and the encoded segments holding it, exactly as they were.
"""

from __future__ import annotations

from pydantic import BaseModel

from speech_audio.encodings import AudioKind
from tasks.models import ChunkAudio, PlannedChunk
from tasks.output.chunk_analysis import ChunkAnalysis, gain_of
from tasks.output.loudness import ceiling_for
from tasks.output.pauses import Pauses, pause_after

TREATMENT_VERSION = 1
SPEECH_MARGIN_SECONDS = 0.02  # kept around the speech: the start and end of a word are quiet
FADE_SECONDS = 0.005  # in and out at every join, so no join clicks
# The analysis measures true peak at its own rate; a chunk this far under the ceiling after its gain is
# only scaled, without the limiter's oversampling (most of assembly's time when it ran on every chunk).
LIMITER_HEADROOM_DB = 1.0


class ChunkPlacement(BaseModel):
    """One chunk in the narration: which stored audio, the part of it kept, its gain, and what follows it."""

    audio: ChunkAudio
    trim_start: float  # seconds into the chunk's decoded audio
    trim_end: float
    gain_db: float | None  # None: loudness normalisation is off
    ceiling_dbtp: float
    limit: bool = True  # the chunk's peaks after its gain may reach the ceiling: the limiter must run
    pause_after: float
    block_end: bool
    cut_after: bool = False  # a segment must end here (a chapter starts next)

    def treatment(self) -> list[object]:
        """What, besides the chunk's key, decides its samples in the narration (for segment keys)."""
        gain = None if self.gain_db is None else round(self.gain_db, 3)
        return [
            TREATMENT_VERSION,
            round(self.trim_start, 4),
            round(self.trim_end, 4),
            gain,
            self.ceiling_dbtp,
            FADE_SECONDS,
            *([] if self.limit else ["no-limiter"]),
        ]


def place_chunk(
    chunks: list[PlannedChunk],
    i: int,
    stored: ChunkAudio,
    analysis: ChunkAnalysis,
    pauses: Pauses,
    loudness_lufs: float | None,
    kind: AudioKind,
    chapter_starts: set[int],
) -> ChunkPlacement:
    """The placement of chunk `i`: from its own analysis and the plan (its pause), never from other chunks' audio."""
    ceiling = ceiling_for(kind)
    gain = None if loudness_lufs is None else gain_of(analysis, loudness_lufs, ceiling)
    return ChunkPlacement(
        audio=stored,
        trim_start=max(0.0, analysis.speech_start - SPEECH_MARGIN_SECONDS),
        trim_end=min(analysis.duration, analysis.speech_end + SPEECH_MARGIN_SECONDS),
        gain_db=gain,
        ceiling_dbtp=ceiling,
        limit=gain is not None and analysis.true_peak_dbtp + gain > ceiling - LIMITER_HEADROOM_DB,
        pause_after=pause_after(chunks, i, pauses),
        block_end=chunks[i].paragraph_end,
        cut_after=i + 1 in chapter_starts,
    )


def place_chunks(
    chunks: list[PlannedChunk],
    audio: list[ChunkAudio],
    analyses: list[ChunkAnalysis],
    pauses: Pauses,
    loudness_lufs: float | None,
    kind: AudioKind,
    chapter_starts: set[int],
) -> list[ChunkPlacement]:
    """The placement of every chunk, in order; `chapter_starts` are chunk indices that begin a chapter."""
    return [
        place_chunk(chunks, i, stored, analysis, pauses, loudness_lufs, kind, chapter_starts)
        for i, (stored, analysis) in enumerate(zip(audio, analyses, strict=True))
    ]
