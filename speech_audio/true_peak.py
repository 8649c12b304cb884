"""True peak: the peak of a signal 4x oversampled (ITU-R BS.1770-4, Annex 2), in numpy alone.

Why not FFmpeg's ebur128 meter: for true peak it resamples everything to 192 kHz while holding
the GIL, which made up most of the cost of measuring a chunk; numpy's element-wise loops release it,
so a chunk measured in a worker thread no longer stalls the run's event loop. Why not scipy: it
costs about a second and 60 MB to import in every narrating process, for one filter.

The interpolating filter is the one `scipy.signal.resample_poly(x, 4, 1)` uses by default (a
Kaiser-windowed sinc, beta 5, 81 taps), so the limiter and the measurement see the same peaks.
"""

from __future__ import annotations

import math

import numpy as np

OVERSAMPLING = 4
_HALF_TAPS = 10 * OVERSAMPLING  # resample_poly's default half-length for this ratio
_KAISER_BETA = 5.0
_REACH = _HALF_TAPS // OVERSAMPLING  # an oversampled value depends on this many input samples on each side
BLOCK_SAMPLES = 1 << 16  # worked through in blocks, so working memory does not grow with the chunk


def _phase_matrix() -> np.ndarray:
    """(2 * _REACH + 1, OVERSAMPLING): column p turns the window x[m - _REACH .. m + _REACH] into y[4m + p]."""
    taps = np.arange(2 * _HALF_TAPS + 1) - _HALF_TAPS
    kernel = np.sinc(taps / OVERSAMPLING) * np.kaiser(len(taps), _KAISER_BETA)
    kernel *= OVERSAMPLING / kernel.sum()  # unity gain at DC once zeros are stuffed between samples
    matrix = np.zeros((2 * _REACH + 1, OVERSAMPLING))
    for phase in range(OVERSAMPLING):
        for lag in range(-_REACH, _REACH + 1):  # y[4m + p] = sum over lag of kernel[4 * lag + p + half] * x[m - lag]
            tap = OVERSAMPLING * lag + phase + _HALF_TAPS
            if 0 <= tap < len(kernel):
                matrix[_REACH - lag, phase] = kernel[tap]
    return matrix


_PHASES = _phase_matrix()
# Phase 0 falls on the input samples: the windowed sinc is zero at every other input sample there, so it
# is the sample itself times the kernel's normalisation (1.0006), and the product needs only phases 1-3.
_ON_SAMPLE = float(_PHASES[_REACH, 0])
_BETWEEN = np.ascontiguousarray(_PHASES[:, 1:])
_BETWEEN_32 = _BETWEEN.astype(np.float32)


def _between_samples(padded: np.ndarray, start: int, stop: int, phases: np.ndarray) -> np.ndarray:
    """max |y| over the three oversampled points after each sample in [start, stop) of the unpadded signal.

    A multiply-add per tap over the whole block, not a matrix product: numpy hands a product to
    OpenBLAS, whose threads spin on every core (twice the CPU for the same result on a busy machine);
    these element-wise loops run in the calling thread with the GIL released.
    """
    count = stop - start
    taps = phases.shape[0]
    product = np.empty(count, dtype=padded.dtype)
    total = np.empty(count, dtype=padded.dtype)
    peaks = np.zeros(count, dtype=padded.dtype)
    for phase in range(phases.shape[1]):
        np.multiply(padded[start : start + count], phases[0, phase], out=total)
        for tap in range(1, taps):
            np.multiply(padded[start + tap : start + tap + count], phases[tap, phase], out=product)
            total += product
        np.maximum(peaks, np.abs(total, out=total), out=peaks)
    return peaks


def _padded(signal: np.ndarray, dtype: type) -> np.ndarray:
    zeros = np.zeros(_REACH, dtype=dtype)
    return np.concatenate((zeros, signal.astype(dtype, copy=False), zeros))


def oversampled_magnitude(signal: np.ndarray) -> np.ndarray:
    """Per sample, the largest magnitude of the 4x oversampled signal from that sample to the next (float64)."""
    signal = np.asarray(signal, dtype=np.float64)
    envelope = np.abs(signal) * _ON_SAMPLE
    padded = _padded(signal, np.float64)
    for start in range(0, len(signal), BLOCK_SAMPLES):
        stop = min(start + BLOCK_SAMPLES, len(signal))
        between = _between_samples(padded, start, stop, _BETWEEN)
        np.maximum(envelope[start:stop], between, out=envelope[start:stop])
    return envelope


def true_peak_dbfs(samples: np.ndarray) -> float:
    """The 4x oversampled peak of int16 samples in dB of full scale (dBTP); -inf for silence or no samples.

    In float32 (peaks to about a millionth of a dB), block by block, so a long chunk is never copied whole.
    """
    if len(samples) == 0:
        return -math.inf
    peak = max(int(samples.max()), -int(samples.min())) * _ON_SAMPLE  # no widened copy of a long chunk
    for start in range(0, len(samples), BLOCK_SAMPLES):
        stop = min(start + BLOCK_SAMPLES, len(samples))
        first, last = max(0, start - _REACH), min(len(samples), stop + _REACH)
        padded = np.zeros(stop - start + 2 * _REACH, dtype=np.float32)
        padded[first - start + _REACH : last - start + _REACH] = samples[first:last]
        peak = max(peak, float(_between_samples(padded, 0, stop - start, _BETWEEN_32).max()))
    return 20 * math.log10(peak / 32768.0) if peak > 0 else -math.inf
