"""Stored chunks, decoded in order into one PCM writer, with the pause after each: the core of every assembly."""

from __future__ import annotations

from collections.abc import Callable

from speech_audio.codec import BYTES_PER_SAMPLE, decode_pcm
from tasks.models import ChunkAudio
from tasks.store.chunk_store import ChunkStore

SILENCE_BLOCK_SAMPLES = 1 << 16


def feed_chunks(
    store: ChunkStore,
    chunks: list[ChunkAudio],
    pauses: list[float],
    sample_rate: int,
    write: Callable[[bytes], None],
) -> tuple[list[tuple[int, int]], int]:
    """Write each chunk's samples, then `pauses[i]` seconds of silence; return (start, length) spans and the total.

    One chunk's audio is in memory at a time; silence goes in blocks, never as one long buffer.
    """
    spans: list[tuple[int, int]] = []
    written = 0
    for chunk, pause in zip(chunks, pauses, strict=True):
        start = written
        for pcm in decode_pcm(store.read_audio(chunk), chunk.encoding, sample_rate):
            write(pcm)
            written += len(pcm) // BYTES_PER_SAMPLE
        spans.append((start, written - start))
        silence = round(pause * sample_rate)
        written += silence
        while silence > 0:
            step = min(silence, SILENCE_BLOCK_SAMPLES)
            write(bytes(step * BYTES_PER_SAMPLE))
            silence -= step
    return spans, written
