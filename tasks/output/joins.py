"""Clean joins between chunks: trim each provider's own silence, fade the edges.

Every provider pads its answers differently (espeak-ng leaves a few ms, services up to half a second),
so the pause between two chunks would be the assembly's pause plus whatever the two answers bring.
Trimming each chunk to its speech plus one short margin makes every join the pause the assembly adds;
a raised-cosine fade at both ends makes the samples meet at zero, so a cut waveform or a DC offset
does not click.
"""

from __future__ import annotations

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
    centred = samples.astype(np.float64) - np.median(samples)
    window = max(1, round(WINDOW_SECONDS * sample_rate))
    from scipy.ndimage import uniform_filter1d  # imported when first needed: scipy is slow to import

    power = uniform_filter1d(np.square(centred, out=centred), size=window, mode="constant")  # mean square
    threshold = max(power.max() * 10 ** (RELATIVE_THRESHOLD_DB / 10), FULL_SCALE**2 * 10 ** (FLOOR_DBFS / 10))
    loud = power > threshold
    if not loud.any():
        return None
    return int(np.argmax(loud)), len(loud) - int(np.argmax(loud[::-1]))


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
    length = min(round(fade_seconds * sample_rate), len(samples) // 2)
    if length == 0:
        return samples.copy()
    ramp = np.sin(0.5 * np.pi * np.arange(length) / length) ** 2  # 0 at the edge, rising to just under 1
    faded = samples.astype(np.float64)
    faded[:length] *= ramp
    faded[len(faded) - length :] *= ramp[::-1]
    return np.rint(faded).astype(np.int16)
