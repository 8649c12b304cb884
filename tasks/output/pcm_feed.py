"""Stored chunks, decoded in order into one PCM writer, each trimmed, levelled and faded, with the pause after it.

The core of every assembly. One chunk's audio is in memory at a time; silence goes in blocks,
never as one long buffer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from speech_audio.codec import BYTES_PER_SAMPLE, decode_pcm
from tasks.output.joins import fade_edges
from tasks.output.loudness import apply_gain
from tasks.output.placement import FADE_SECONDS, ChunkPlacement
from tasks.store.chunk_store import ChunkStore

SILENCE_BLOCK_SAMPLES = 1 << 16


def chunk_samples(store: ChunkStore, placement: ChunkPlacement, sample_rate: int) -> np.ndarray:
    """The chunk as it goes into the narration: its kept part, with its gain (limited) and short fades."""
    chunk = placement.audio
    decoded = np.frombuffer(b"".join(decode_pcm(store.read_audio(chunk), chunk.encoding, sample_rate)), np.int16)
    samples = decoded[round(placement.trim_start * sample_rate) : round(placement.trim_end * sample_rate)]
    if placement.gain_db is not None and placement.limit:
        samples = apply_gain(samples, placement.gain_db, placement.ceiling_dbtp, sample_rate=sample_rate)
    elif placement.gain_db is not None:  # far enough under the ceiling: a plain gain
        scaled = np.rint(samples.astype(np.float32) * np.float32(10 ** (placement.gain_db / 20)))
        samples = np.clip(scaled, -32768, 32767).astype(np.int16)
    return fade_edges(samples, sample_rate, fade_seconds=FADE_SECONDS)


def feed_chunks(
    store: ChunkStore,
    placements: list[ChunkPlacement],
    sample_rate: int,
    write: Callable[[bytes], None],
) -> tuple[list[tuple[int, int]], int]:
    """Write each chunk's samples, then its pause; return (start, length) spans and the total, in samples."""
    spans: list[tuple[int, int]] = []
    written = 0
    for placement in placements:
        samples = chunk_samples(store, placement, sample_rate)
        write(samples.tobytes())
        spans.append((written, len(samples)))
        written += len(samples)
        silence = round(placement.pause_after * sample_rate)
        written += silence
        while silence > 0:
            step = min(silence, SILENCE_BLOCK_SAMPLES)
            write(bytes(step * BYTES_PER_SAMPLE))
            silence -= step
    return spans, written
