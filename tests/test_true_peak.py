"""True peak in numpy: inter-sample peaks found, equal to ideal band-limited interpolation, blocks seamless."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from speech_audio.true_peak import BLOCK_SAMPLES, oversampled_magnitude, true_peak_dbfs
from tasks.output.loudness import window_minimum


def _ideal_peak(signal: np.ndarray, factor: int = 64) -> float:
    """The peak of a periodic signal interpolated ideally (zero-padded spectrum), `factor` points per sample."""
    spectrum = np.fft.rfft(signal)
    return float(np.abs(np.fft.irfft(spectrum, len(signal) * factor) * factor).max())


def test_a_peak_between_samples_is_found():
    # A sine at a quarter of the sample rate, phased so that every sample misses the crest by 45 degrees:
    # the samples peak 3 dB under the wave, which is what a sample peak meter reports.
    n = np.arange(4800)
    samples = np.round(20000 * np.sin(np.pi / 2 * n + np.pi / 4)).astype(np.int16)
    sample_peak = 20 * math.log10(np.abs(samples.astype(int)).max() / 32768)
    wave_peak = 20 * math.log10(20000 / 32768)
    assert sample_peak == pytest.approx(wave_peak - 3.01, abs=0.01)
    # The interpolating filter's passband ripple reads this wave up to about 0.12 dB high (on the safe
    # side for a limiter); it never reads it low.
    assert wave_peak - 0.01 <= true_peak_dbfs(samples) <= wave_peak + 0.15


@pytest.mark.parametrize("seed", range(4))
def test_oversampled_peak_matches_ideal_interpolation(seed):
    # Band-limited noise (nothing above 0.4 of the sample rate, where the filter is flat), periodic.
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(8192))
    spectrum[int(len(spectrum) * 0.8) :] = 0
    signal = np.fft.irfft(spectrum, 8192)
    samples = np.round(signal / np.abs(signal).max() * 16000).astype(np.int16)
    wrapped = np.concatenate((samples[-64:], samples, samples[:64]))  # the filter sees the periodic neighbours
    measured = oversampled_magnitude(wrapped)[64:-64].max()
    ideal = _ideal_peak(samples.astype(np.float64))
    assert 20 * math.log10(measured / ideal) == pytest.approx(0.0, abs=0.1)  # 4x points, not infinitely many
    assert measured > np.abs(samples.astype(int)).max()  # noise has peaks between its samples


def test_blocks_leave_no_seam():
    rng = np.random.default_rng(7)
    samples = (rng.standard_normal(3 * BLOCK_SAMPLES + 123) * 2000).astype(np.int16)
    for at in (BLOCK_SAMPLES - 1, BLOCK_SAMPLES, 2 * BLOCK_SAMPLES + 5):
        hot = samples.copy()
        hot[at - 2 : at + 3] = [-20000, 25000, -25000, 25000, -20000]  # a crest across a block boundary
        whole = float(oversampled_magnitude(hot).max())
        assert true_peak_dbfs(hot) == pytest.approx(20 * math.log10(whole / 32768), abs=1e-4)


def test_silence_and_nothing_have_no_peak():
    assert true_peak_dbfs(np.zeros(1000, dtype=np.int16)) == -math.inf
    assert true_peak_dbfs(np.zeros(0, dtype=np.int16)) == -math.inf


@pytest.mark.parametrize(("before", "after"), [(0, 0), (0, 3), (5, 0), (480, 142), (7, 2)])
@pytest.mark.parametrize("length", [1, 2, 9, 1000])
def test_window_minimum_is_the_minimum_of_each_window(before, after, length):
    values = np.random.default_rng(length + before).random(length)
    padded = np.concatenate((np.full(before, values[0]), values, np.full(after, values[-1])))
    expected = sliding_window_view(padded, before + after + 1).min(axis=1)
    assert np.array_equal(window_minimum(values, before, after), expected)
