"""Loudness: BS.1770 measurement, per-chunk gain toward the target, and the true-peak limiter, on real speech."""

from __future__ import annotations

import math
from functools import cache

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.parameters import NarrationRequest
from speech_audio import espeak
from speech_audio.codec import decode_to_array, encode_pcm
from speech_audio.encodings import AudioEncoding, AudioKind
from tasks.errors import NarrationInputError
from tasks.output import loudness
from tasks.output.loudness import (
    DEFAULT_TARGET_LUFS,
    MAX_GAIN_DB,
    Loudness,
    apply_gain,
    ceiling_for,
    chunk_gain_db,
    measure,
    true_peak,
)

RATE = espeak.sample_rate()
SENTENCES = {
    "plain": ("en-us", 1.0, "The committee met on Tuesday to review the budget for the coming year."),
    "sibilant": ("en-gb", 1.6, "Sixty six sizzling sausages, she said, should surely suffice."),
    "german": ("de", 0.8, "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich."),
}


@cache
def speech(name: str) -> np.ndarray:
    voice, speed, text = SENTENCES[name]
    return np.frombuffer(espeak.synthesize(text, voice, speed), dtype=np.int16)


def sine(seconds: float, peak_dbfs: float, rate: int = 48_000, frequency: float = 997.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return np.rint(32768 * 10 ** (peak_dbfs / 20) * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def levelled(samples: np.ndarray, target: float = DEFAULT_TARGET_LUFS) -> np.ndarray:
    return apply_gain(samples, chunk_gain_db(measure(samples, RATE), target), sample_rate=RATE)


def test_a_sine_measures_as_bs1770_says():
    # BS.1770: a 997 Hz sine at 0 dBFS in one channel reads -3.01 LKFS; its true peak is its amplitude.
    result = measure(sine(3.0, -20.0), 48_000)
    assert result.integrated_lufs == pytest.approx(-23.01, abs=0.05)
    assert result.true_peak_dbtp == pytest.approx(-20.0, abs=0.05)


@settings(max_examples=12, deadline=None)
@given(rate=st.sampled_from([8000, 11025, 22050, 24000, 44100, 48000]), seconds=st.floats(0.01, 0.7))
def test_a_clip_of_any_length_reads_as_loud_as_a_long_one(rate, seconds):
    # under 400 ms BS.1770 has no block; between 400 and 500 ms ebur128 may report none (at 11025 Hz)
    expected = measure(sine(2.0, -20.0, rate, 397.0), rate).integrated_lufs
    assert measure(sine(seconds, -20.0, rate, 397.0), rate).integrated_lufs == pytest.approx(expected, abs=0.15)


@settings(max_examples=8, deadline=None)
@given(factor=st.floats(0.02, 1.0))
def test_scaling_speech_moves_its_loudness_by_the_same_amount(factor):
    original = measure(speech("plain"), RATE)
    scaled = measure(np.rint(speech("plain") * factor).astype(np.int16), RATE)
    assert scaled.integrated_lufs - original.integrated_lufs == pytest.approx(20 * math.log10(factor), abs=0.1)
    # FFmpeg's true-peak reading wanders by about 0.1 dB on quiet audio; near the ceiling it agrees with ours
    assert scaled.true_peak_dbtp - original.true_peak_dbtp == pytest.approx(20 * math.log10(factor), abs=0.25)


def test_chunks_at_very_different_levels_and_from_another_voice_meet_the_target():
    loud = speech("plain")
    quiet = np.rint(loud * 0.1).astype(np.int16)
    other = speech("sibilant")
    before = [measure(chunk, RATE).integrated_lufs for chunk in (loud, quiet, other)]
    assert max(before) - min(before) > 15  # the untreated chunks are far apart
    treated = [levelled(chunk) for chunk in (loud, quiet, other)]
    for chunk in treated:
        assert measure(chunk, RATE).integrated_lufs == pytest.approx(DEFAULT_TARGET_LUFS, abs=1.0)
    programme = np.concatenate(treated)
    assert measure(programme, RATE).integrated_lufs == pytest.approx(DEFAULT_TARGET_LUFS, abs=1.0)
    assert true_peak(programme) <= loudness.DEFAULT_CEILING_DBTP + 1e-6


def test_a_short_chunk_is_levelled_like_the_rest():
    short = np.rint(speech("plain")[round(0.25 * RATE) : round(0.45 * RATE)] * 0.2).astype(np.int16)
    found = measure(short, RATE)
    assert found.integrated_lufs is not None and found.integrated_lufs < DEFAULT_TARGET_LUFS - 6
    treated = apply_gain(short, chunk_gain_db(found), sample_rate=RATE)
    assert measure(treated, RATE).integrated_lufs == pytest.approx(DEFAULT_TARGET_LUFS, abs=1.0)


@pytest.mark.parametrize(
    "samples",
    [np.zeros(RATE, np.int16), np.zeros(0, np.int16), np.zeros(5, np.int16), sine(1.0, -85.0, RATE)],
    ids=["one second of zeros", "empty", "five zeros", "a tone under the -70 LUFS gate"],
)
def test_silence_has_no_loudness_and_gets_no_gain(samples):
    found = measure(samples, RATE)
    assert found.integrated_lufs is None
    assert chunk_gain_db(found) == 0.0
    assert np.array_equal(apply_gain(samples, chunk_gain_db(found), sample_rate=RATE), samples)


@pytest.mark.parametrize(
    ("integrated", "target", "gain"),
    [
        (None, -19.0, 0.0),
        (-19.0, -19.0, 0.0),
        (-30.0, -19.0, 11.0),
        (-12.5, -16.0, -3.5),
        (-19.0 - MAX_GAIN_DB - 10, -19.0, MAX_GAIN_DB),
        (10.0, -19.0, -MAX_GAIN_DB),
    ],
)
def test_chunk_gain_decisions(integrated, target, gain):
    assert chunk_gain_db(Loudness(integrated, -3.0), target) == pytest.approx(gain)


def at_rate(samples: np.ndarray, rate: int) -> np.ndarray:
    raw = AudioEncoding(kind=AudioKind.PCM, sample_rate=RATE)
    return decode_to_array(samples.tobytes(), raw, rate)


def encoded_and_decoded(samples: np.ndarray, kind: AudioKind, rate: int) -> np.ndarray:
    encoded = encode_pcm(samples.tobytes(), kind, rate)
    return decode_to_array(encoded, AudioEncoding(kind=kind), rate)


def _loudest_target() -> float:
    """The highest loudness target a request accepts (its `le` bound): the hardest a chunk is ever limited."""
    bound = next(
        (rule.le for rule in NarrationRequest.model_fields["loudness_lufs"].metadata if hasattr(rule, "le")), None
    )
    assert bound is not None, "loudness_lufs has no upper bound"
    return bound


def _mp3_frame_samples(rate: int) -> int:
    """Samples in one MP3 frame at `rate`, as the encoder reports: 576 up to 24 kHz, 1152 above."""
    encoder = av.CodecContext.create("libmp3lame", "w")
    encoder.sample_rate, encoder.layout, encoder.format = rate, "mono", "s16p"
    encoder.open()
    return encoder.frame_size


@pytest.mark.parametrize("name", sorted(SENTENCES))
def test_speech_at_the_loudest_target_stays_under_minus_1_dbtp_after_mp3_wherever_its_frames_fall(name):
    chunk = speech(name)
    gain = chunk_gain_db(measure(chunk, RATE), _loudest_target())  # about 10 dB into the limiter
    limited = apply_gain(chunk, gain, ceiling_for(AudioKind.MP3), sample_rate=RATE)
    # The codec's overshoot depends on where its frames fall on the peaks: try 16 places across a frame.
    frame = _mp3_frame_samples(RATE)
    for offset in range(0, frame, frame // 16):
        shifted = np.concatenate((np.zeros(offset, dtype=np.int16), limited))
        assert measure(encoded_and_decoded(shifted, AudioKind.MP3, RATE), RATE).true_peak_dbtp <= -1.0, offset
    unlimited = np.clip(np.rint(chunk * 10 ** (gain / 20)), -32768, 32767).astype(np.int16)
    assert measure(unlimited, RATE).true_peak_dbtp > -1.0  # the same gain without the limiter


@pytest.mark.parametrize(("kind", "rate"), [(AudioKind.MP3, 24_000), (AudioKind.OPUS, 48_000), (AudioKind.AAC, 48_000)])
def test_speech_at_the_target_stays_under_minus_1_dbtp_in_every_lossy_format(kind, rate):
    chunk = at_rate(speech("plain"), rate)  # its peaks pass -1 dBTP at the target unless limited
    levelled_chunk = apply_gain(chunk, chunk_gain_db(measure(chunk, rate)), ceiling_for(kind), sample_rate=rate)
    assert measure(encoded_and_decoded(levelled_chunk, kind, rate), rate).true_peak_dbtp <= -1.0
    unlimited = np.clip(np.rint(chunk * 10 ** (chunk_gain_db(measure(chunk, rate)) / 20)), -32768, 32767)
    assert measure(encoded_and_decoded(unlimited.astype(np.int16), kind, rate), rate).true_peak_dbtp > -1.0


def test_the_default_ceiling_holds_in_pcm():
    hot = apply_gain(speech("sibilant"), 20.0, sample_rate=RATE)
    assert true_peak(hot) <= loudness.DEFAULT_CEILING_DBTP + 1e-6
    assert measure(hot, RATE).true_peak_dbtp <= loudness.DEFAULT_CEILING_DBTP + 0.3  # FFmpeg's 192 kHz reading


signals = st.builds(
    lambda seed, kind, length, level: _signal(seed, kind, length, level),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["noise", "tone", "bursts"]),
    st.integers(1, 6000),
    st.floats(-60.0, 0.0),
)


def _signal(seed: int, kind: str, length: int, level_dbfs: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    amplitude = 32767 * 10 ** (level_dbfs / 20)
    if kind == "noise":
        values = rng.uniform(-1, 1, length)
    elif kind == "tone":
        values = np.sin(2 * np.pi * rng.uniform(0.001, 0.5) * np.arange(length) + rng.uniform(0, 6.3))
    else:
        values = rng.uniform(-1, 1, length) * (rng.uniform(0, 1, length // 50 + 1) > 0.7).repeat(50)[:length]
    return np.rint(amplitude * values).astype(np.int16)


@settings(max_examples=60, deadline=None)
@given(
    samples=signals,
    gain_db=st.floats(-24.0, 24.0),
    ceiling=st.floats(-9.0, -0.5),
    rate=st.sampled_from([8000, 24000, 48000]),
)
def test_the_limiter_holds_its_ceiling_and_leaves_quiet_audio_exactly_scaled(samples, gain_db, ceiling, rate):
    result = apply_gain(samples, gain_db, ceiling, sample_rate=rate)
    assert result.dtype == np.int16 and len(result) == len(samples)
    assert true_peak(result) <= ceiling + 1e-3
    scaled = samples.astype(np.float64) * 10 ** (gain_db / 20)
    if true_peak(np.clip(np.rint(scaled), -32768, 32767).astype(np.int16)) < ceiling - 0.2:
        assert np.array_equal(result, np.rint(scaled).astype(np.int16))


def test_the_limiter_does_not_depend_on_where_its_blocks_fall(monkeypatch):
    hot = np.concatenate([speech("plain"), speech("german")])
    whole = apply_gain(hot, 18.0, sample_rate=RATE)
    monkeypatch.setattr(loudness, "BLOCK_SAMPLES", 997)
    in_blocks = apply_gain(hot, 18.0, sample_rate=RATE)
    assert np.abs(whole.astype(int) - in_blocks.astype(int)).max() <= 1


@pytest.mark.parametrize(
    ("samples", "rate", "field"),
    [
        (np.zeros(10, np.float32), RATE, "samples"),
        (np.zeros((2, 10), np.int16), RATE, "samples"),
        (np.zeros(10, np.int16), 0, "sample_rate"),
    ],
)
def test_bad_input_names_the_field(samples, rate, field):
    with pytest.raises(NarrationInputError) as raised:
        measure(samples, rate)
    assert raised.value.field == field
