"""Clean joins between chunks: trim each provider's own silence, fade the edges.

Every provider pads its answers differently (espeak-ng leaves a few ms, services up to half a second),
so the pause between two chunks would be the assembly's pause plus whatever the two answers bring.
Trimming each chunk to its speech plus one short margin makes every join the pause the assembly adds;
a raised-cosine fade at both ends makes the samples meet at zero, so a cut waveform or a DC offset
does not click.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

FULL_SCALE = 32768.0
WINDOW_SECONDS = 0.005  # the envelope's window: a few periods of a voice, shorter than any syllable
RELATIVE_THRESHOLD_DB = -40.0  # below the loudest window: quiet consonants at word ends stay speech
FLOOR_DBFS = -60.0  # and never lower than this, so a quiet chunk's noise floor is not taken for speech


def speech_span(samples: np.ndarray, sample_rate: int) -> tuple[int, int] | None:
    """(start, end) sample indices of the speech in a chunk, or None if nothing rises above the threshold.

    Speech is where the 5 ms RMS envelope (around the median, so a DC offset reads as silence) is
    within 40 dB of its loudest window and above -60 dBFS.
    """
    if len(samples) == 0:
        return None
    window = max(1, round(WINDOW_SECONDS * sample_rate))
    centre = float(np.median(samples))

    # computed once and walked three times where it is short; else computed again block by block each walk
    kept = list(_envelope_blocks(samples, centre, window)) if len(samples) <= KEPT_BLOCKS * ENVELOPE_BLOCK else None

    def envelope(*, reverse: bool = False) -> Iterable[tuple[int, np.ndarray]]:
        if kept is not None:
            return reversed(kept) if reverse else kept
        return _envelope_blocks(samples, centre, window, reverse=reverse)

    peak = max(power.max() for _, power in envelope())
    threshold = max(peak * 10 ** (RELATIVE_THRESHOLD_DB / 10), FULL_SCALE**2 * 10 ** (FLOOR_DBFS / 10))
    start = next((offset + int(np.argmax(loud)) for offset, loud in _loud_blocks(envelope(), threshold)), None)
    if start is None:
        return None
    offset, loud = next(_loud_blocks(envelope(reverse=True), threshold))
    return start, offset + len(loud) - int(np.argmax(loud[::-1]))


ENVELOPE_BLOCK = 1 << 16  # samples measured at a time: a chunk of several minutes never needs a float copy
# A chunk of up to this many blocks (16 s at 16 kHz) keeps its envelope (8 bytes a sample) between the
# walks that find its peak, its start and its end, instead of computing it three times; longer ones
# (long jobs run to hours) compute it again block by block.
KEPT_BLOCKS = 4


def _envelope_blocks(
    samples: np.ndarray, centre: float, window: int, *, reverse: bool = False
) -> Iterator[tuple[int, np.ndarray]]:
    """(offset, mean square over `window` samples centred on each sample, zero outside the chunk), block by block.

    Blocks keep memory to a few hundred kB whatever the chunk's length; `reverse` walks from the end.
    """
    left, right = window // 2, window - 1 - window // 2
    offsets = range(0, len(samples), ENVELOPE_BLOCK)
    for offset in reversed(offsets) if reverse else offsets:
        end = min(offset + ENVELOPE_BLOCK, len(samples))
        lo, hi = max(0, offset - left), min(len(samples), end + right)
        centred = samples[lo:hi].astype(np.float64) - centre
        padded = np.concatenate((np.zeros(left - (offset - lo)), centred, np.zeros(right - (hi - end))))
        sums = np.concatenate(([0.0], np.cumsum(np.square(padded, out=padded))))
        yield offset, (sums[window:] - sums[:-window]) / window


def _loud_blocks(blocks: Iterable[tuple[int, np.ndarray]], threshold: float) -> Iterator[tuple[int, np.ndarray]]:
    """(offset, loud mask) of the envelope blocks that hold a sample over `threshold`, in walking order."""
    for offset, power in blocks:
        loud = power > threshold
        if loud.any():
            yield offset, loud


def trim(samples: np.ndarray, sample_rate: int, *, keep_seconds: float = 0.02) -> np.ndarray:
    """The chunk's speech with `keep_seconds` of what surrounds it on each side (less where the chunk has less).

    A chunk with no speech at all comes back empty. The margin is never made up with added silence:
    a chunk cut off mid-word ends where it ends, and fade_edges closes it.
    """
    span = speech_span(samples, sample_rate)
    if span is None:
        return samples[:0].copy()
    keep = round(keep_seconds * sample_rate)
    start, end = span
    return samples[max(0, start - keep) : min(len(samples), end + keep)].copy()


def fade_edges(samples: np.ndarray, sample_rate: int, *, fade_seconds: float = 0.005) -> np.ndarray:
    """Raised-cosine fade in and out over `fade_seconds` (at most half the chunk each), starting and ending at 0."""
    return fade_edges_in_place(samples.copy(), sample_rate, fade_seconds=fade_seconds)


def fade_edges_in_place(samples: np.ndarray, sample_rate: int, *, fade_seconds: float = 0.005) -> np.ndarray:
    """fade_edges on int16 samples the caller owns: only the faded ends are touched, no copy of the chunk."""
    length = min(round(fade_seconds * sample_rate), len(samples) // 2)
    if length == 0:
        return samples
    ramp = np.sin(0.5 * np.pi * np.arange(length) / length) ** 2  # 0 at the edge, rising to just under 1
    samples[:length] = np.rint(samples[:length] * ramp)
    samples[len(samples) - length :] = np.rint(samples[len(samples) - length :] * ramp[::-1])
    return samples
