"""Subtitles from where each sentence was heard: sentence timings placed in the narration, shaped into cues.

Each chunk's sentence spans (tasks.output.chunk_analysis) are moved to where the chunk sits in
the narration (its start, less the part trimmed off its front), then cut into readable cues
(tasks.output.cues: at most 7 s, 2 lines of 42 characters, 16 for Chinese and Japanese), which
publishing writes as SRT and WebVTT.
"""

from __future__ import annotations

from tasks.output.assembly import ChunkTiming
from tasks.output.chunk_analysis import ChunkAnalysis
from tasks.output.cues import TimedSentence
from tasks.output.placement import ChunkPlacement

MIN_SENTENCE_SECONDS = 0.05


def timed_sentences(
    analyses: list[ChunkAnalysis], placements: list[ChunkPlacement], timings: list[ChunkTiming]
) -> list[TimedSentence]:
    """Every sentence with its start and end in the narration, in order, inside its chunk's audio."""
    sentences: list[TimedSentence] = []
    for analysis, placement, timing in zip(analyses, placements, timings, strict=True):
        chunk_start = timing.start_seconds
        chunk_end = chunk_start + timing.duration_seconds
        shift = chunk_start - placement.trim_start
        floor = max(chunk_start, sentences[-1].end if sentences else 0.0)
        for text, (start, end) in zip(analysis.sentences, analysis.spans, strict=True):
            begin = min(max(shift + start, floor), chunk_end)
            finish = min(max(shift + end, begin + MIN_SENTENCE_SECONDS), max(chunk_end, begin + MIN_SENTENCE_SECONDS))
            sentences.append(TimedSentence(text=text, start=begin, end=finish))
            floor = finish
    return sentences
