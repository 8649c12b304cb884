"""The manifest: everything a run produced and what it cost, written beside the audio."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from tasks.models import (
    ChunkAudio,
    Manifest,
    ManifestChapter,
    ManifestChunk,
    ManifestLoudness,
    ManifestSentence,
    PlannedChunk,
    text_sha256,
)
from tasks.output.assembly import AssembledAudio
from tasks.output.chunk_analysis import ChunkAnalysis
from tasks.output.cues import TimedSentence
from tasks.output.location import subtitle_urls
from tasks.output.placement import ChunkPlacement
from tasks.synthesis.ledger import RunLedger


@dataclass(frozen=True)
class NarrationFacts:
    """What the flow knows of a narration once it is assembled, for its manifest."""

    name: str
    output_format: str
    provider: str
    voice: str
    speed: float
    source: str | None
    source_sha256: str
    chunks: list[PlannedChunk]
    audio: list[ChunkAudio]  # chunk i's stored audio
    analyses: list[ChunkAnalysis]
    placements: list[ChunkPlacement]
    synthesized_keys: int  # keys paid for in this run
    cached_chunks: int  # chunks found in the store before synthesis began
    loudness_target: float | None
    skipped: list[str]
    ledger: RunLedger  # attempts and characters billed in this run
    lexicon_version: str | None = None


def programme_loudness(facts: NarrationFacts) -> ManifestLoudness | None:
    """The programme's loudness from its chunks: their speech's loudness after gain, power-averaged by duration."""
    if facts.loudness_target is None:
        return None
    energy = seconds = 0.0
    peak = -math.inf
    for analysis, placement in zip(facts.analyses, facts.placements, strict=True):
        gain = placement.gain_db or 0.0
        peak = max(peak, min(analysis.true_peak_dbtp + gain, placement.ceiling_dbtp))
        if analysis.loudness_lufs is not None:
            length = analysis.speech_end - analysis.speech_start
            energy += length * 10 ** ((analysis.loudness_lufs + gain) / 10)
            seconds += length
    integrated = 10 * math.log10(energy / seconds) if seconds else None
    return ManifestLoudness(target_lufs=facts.loudness_target, integrated_lufs=integrated, true_peak_dbtp=peak)


def build_manifest(
    facts: NarrationFacts,
    assembled: AssembledAudio,
    sentences: list[TimedSentence],
    chapters: list[ManifestChapter],
) -> Manifest:
    """The manifest of one narration."""
    ledger = facts.ledger
    return Manifest(
        name=facts.name,
        audio=assembled.url,
        subtitles=subtitle_urls(assembled.url),
        format=facts.output_format,
        sample_rate=assembled.sample_rate,
        duration_seconds=assembled.duration_seconds,
        provider=facts.provider,
        voice=facts.voice,
        speed=facts.speed,
        characters=sum(len(chunk.text) for chunk in facts.chunks),
        billed_characters=ledger.billed,
        chunks_synthesized=facts.synthesized_keys,
        chunks_cached=facts.cached_chunks,
        source=facts.source,
        source_sha256=facts.source_sha256,
        created_at=datetime.now(UTC).isoformat(),
        chunks=[
            ManifestChunk(
                index=chunk.index,
                text_sha256=text_sha256(chunk.text),
                characters=len(chunk.text),
                start_seconds=timing.start_seconds,
                duration_seconds=timing.duration_seconds,
                cached=chunk_audio.cached,
                request_id=chunk_audio.request_id,
                paragraph_end=chunk.paragraph_end,
                key=chunk.key,
                block=chunk.block,
                kind=chunk.kind,
                timing=analysis.timing,
                gain_db=placement.gain_db,
                trim_seconds=placement.trim_start,
                lexicon=sorted(chunk.lexicon),
                attempts=0 if chunk_audio.cached else chunk_audio.paid_requests or ledger.account(chunk.key).attempts,
                billed_characters_this_run=ledger.account(chunk.key).billed_characters if not chunk_audio.cached else 0,
            )
            for chunk, chunk_audio, timing, analysis, placement in zip(
                facts.chunks, facts.audio, assembled.timings, facts.analyses, facts.placements, strict=True
            )
        ],
        chapters=chapters,
        loudness=programme_loudness(facts),
        sentences=[ManifestSentence(start_seconds=s.start, end_seconds=s.end, text=s.text) for s in sentences],
        skipped=facts.skipped,
        lexicon_version=facts.lexicon_version,
    )
