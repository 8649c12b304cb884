"""Stored chunks, decoded in order into one PCM writer, each trimmed, levelled and faded, with the pause after it.

The core of every assembly. One chunk's audio is in memory at a time; silence goes in blocks,
never as one long buffer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np

from speech_audio.codec import BYTES_PER_SAMPLE, decode_to_array
from tasks.output.joins import fade_edges_in_place
from tasks.output.loudness import apply_gain
from tasks.output.placement import FADE_SECONDS, ChunkPlacement
from tasks.store.chunk_store import ChunkStore

SILENCE_BLOCK_SAMPLES = 1 << 16
SCALE_BLOCK_SAMPLES = 1 << 16
WRITE_BLOCK_SAMPLES = 1 << 16


def chunk_samples(store: ChunkStore, placement: ChunkPlacement, sample_rate: int) -> np.ndarray:
    """The chunk as it goes into the narration: its kept part, with its gain (limited) and short fades.

    Works on int16 throughout (the plain gain block by block), so a chunk of several minutes costs
    about twice its own size in memory, not the eight times a float copy of it would.
    """
    chunk = placement.audio
    decoded = decode_to_array(store.read_audio(chunk), chunk.encoding, sample_rate)
    kept = decoded[round(placement.trim_start * sample_rate) : round(placement.trim_end * sample_rate)]
    if placement.gain_db is not None and placement.limit:
        samples = apply_gain(kept, placement.gain_db, placement.ceiling_dbtp, sample_rate=sample_rate)
    elif placement.gain_db is not None:  # far enough under the ceiling: a plain gain
        samples = _scaled(kept, placement.gain_db)
    else:
        samples = kept.copy()
    return fade_edges_in_place(samples, sample_rate, fade_seconds=FADE_SECONDS)


def _scaled(samples: np.ndarray, gain_db: float) -> np.ndarray:
    """int16 samples times the gain, rounded and clipped, computed a block at a time."""
    factor = np.float32(10 ** (gain_db / 20))
    result = np.empty_like(samples)
    for start in range(0, len(samples), SCALE_BLOCK_SAMPLES):
        block = samples[start : start + SCALE_BLOCK_SAMPLES].astype(np.float32) * factor
        result[start : start + len(block)] = np.clip(np.rint(block), -32768, 32767)
    return result


def feed_chunks(
    store: ChunkStore,
    placements: list[ChunkPlacement],
    sample_rate: int,
    write: Callable[[bytes], None],
    turn: contextlib.AbstractContextManager[object] | None = None,
) -> tuple[list[tuple[int, int]], int]:
    """Write each chunk's samples, then its pause; return (start, length) spans and the total, in samples.

    `turn` is held while each chunk is decoded and written (assembly ahead shares the measuring turn, so
    no more chunks are decoded at once than before).
    """
    spans: list[tuple[int, int]] = []
    written = 0
    for placement in placements:
        with turn or contextlib.nullcontext():
            samples = chunk_samples(store, placement, sample_rate)
            for start in range(
                0, len(samples), WRITE_BLOCK_SAMPLES
            ):  # encoders take any size; blocks keep copies small
                write(samples[start : start + WRITE_BLOCK_SAMPLES].tobytes())
            length = len(samples)
            del samples
        spans.append((written, length))
        written += length
        silence = round(placement.pause_after * sample_rate)
        written += silence
        while silence > 0:
            step = min(silence, SILENCE_BLOCK_SAMPLES)
            write(bytes(step * BYTES_PER_SAMPLE))
            silence -= step
    return spans, written
