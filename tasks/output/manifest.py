"""The manifest: everything a run produced and what it cost, written beside the audio."""

from __future__ import annotations

from datetime import UTC, datetime

from tasks.models import ChunkAudio, Manifest, ManifestChunk, PlannedChunk, text_sha256
from tasks.output.assembly import AssembledAudio


def build_manifest(
    *,
    name: str,
    assembled: AssembledAudio,
    output_format: str,
    provider: str,
    voice: str,
    speed: float,
    chunks: list[PlannedChunk],
    audio: list[ChunkAudio],
    synthesized_keys: int,
    cached_chunks: int,
    source: str | None,
    source_sha256: str,
) -> Manifest:
    """The manifest of one narration; `audio[i]` is chunk i's stored audio, `synthesized_keys` the keys paid for now,
    `cached_chunks` the chunks found in the store before synthesis began."""
    billed = [a.billed_characters for a in audio if a.billed_characters is not None and not a.cached]
    return Manifest(
        name=name,
        audio=assembled.url,
        subtitles={ext: assembled.url.rsplit(".", 1)[0] + f".{ext}" for ext in ("srt", "vtt")},
        format=output_format,
        sample_rate=assembled.sample_rate,
        duration_seconds=assembled.duration_seconds,
        provider=provider,
        voice=voice,
        speed=speed,
        characters=sum(len(chunk.text) for chunk in chunks),
        billed_characters=sum(billed) if billed else None,
        chunks_synthesized=synthesized_keys,
        chunks_cached=cached_chunks,
        source=source,
        source_sha256=source_sha256,
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
            )
            for chunk, chunk_audio, timing in zip(chunks, audio, assembled.timings, strict=True)
        ],
    )
