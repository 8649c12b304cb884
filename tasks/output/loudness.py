"""Loudness per chunk: measure (ITU-R BS.1770 through FFmpeg's ebur128), a gain toward one target, a true-peak limiter.

Segments of MP3 and AAC are reused across runs, so a chunk's gain is decided from that chunk alone:
every chunk is brought to the same target, which levels the programme without a programme-wide pass.
The default target is -19 LUFS because narrations are mono and podcast practice (Apple's figures)
asks -16 LUFS of stereo, which a mono file matches at -19 LUFS once players send it to both ears (+3 dB).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import av
import numpy as np

from speech_audio.encodings import AudioKind
from speech_audio.true_peak import oversampled_magnitude, true_peak_dbfs
from tasks.errors import NarrationInputError

DEFAULT_TARGET_LUFS = -19.0
DEFAULT_CEILING_DBTP = -1.5
MAX_GAIN_DB = 24.0  # a chunk quieter than target - 24 LU is more likely noise or breakage than speech
ABSOLUTE_GATE_LUFS = -70.0  # BS.1770's absolute gate: nothing at or below it counts as sound
FULL_SCALE = 32768.0

# Lossy encoders push up the peaks of the PCM they are given. Measured on espeak-ng speech in six
# voices, levelled to the target, limited, encoded at the project's bit rates and decoded: LAME
# (64 kbps) added nothing at the target but up to 1.4 dB to chunks driven 20 dB into the limiter;
# Opus (32 kbps) up to 0.3 dB at the target (2.7 dB driven hot); FFmpeg's AAC (64 kbps) up to 2 dB
# (3.1 dB). Each ceiling keeps speech at the target under -1 dBTP once decoded. MP3's is -2, not
# -3: limiting peaky speech to -3 cost the programme 0.75 LU of its target. The loudest target a request
# accepts (-10 LUFS) drives espeak-ng speech 10-12 dB into the limiter; MP3 then decodes at -1.35 dBTP
# at most, wherever the codec's frames fall (16 offsets across a frame tried). Driven 20 dB in, which no
# target reaches, speech decodes above -1 at up to 7 of 16 offsets (up to +0.1 dBTP): only a check of the
# encoded audio would hold -1 there.
CEILING_DBTP_FOR: dict[AudioKind, float] = {
    AudioKind.MP3: -2.0,
    AudioKind.OPUS: -2.0,
    AudioKind.AAC: -4.0,
    AudioKind.M4B: -4.0,
}

ATTACK_SECONDS = 0.003  # gain falls over two ramps of this length before a peak
HOLD_SECONDS = 0.020  # and stays down this long after it, so close peaks do not make the gain flutter
LIMITER_MARGIN_DB = 0.05  # room for the small overshoot a moving gain adds between samples
BLOCK_SAMPLES = 1 << 18  # the limiter works block by block, so memory does not grow with the chunk
FEED_SAMPLES = 1 << 16


@dataclass(frozen=True)
class Loudness:
    """Integrated loudness (None when there is no sound above the gate) and true peak (-inf for digital silence)."""

    integrated_lufs: float | None
    true_peak_dbtp: float


def _check(samples: np.ndarray, sample_rate: int) -> None:
    if not isinstance(samples, np.ndarray) or samples.dtype != np.int16 or samples.ndim != 1:
        raise NarrationInputError("samples", "expected a one-dimensional numpy int16 array (mono PCM)")
    if sample_rate <= 0:
        raise NarrationInputError("sample_rate", f"{sample_rate} Hz is not a sample rate")


def _padded_pieces(samples: np.ndarray, lead: int, total: int) -> Iterator[np.ndarray]:
    """`lead` samples of silence, the samples, then silence up to `total`, in pieces of at most FEED_SAMPLES.

    The padding is made piece by piece, so a long chunk is never copied whole to pad it.
    """
    silence = np.zeros(min(FEED_SAMPLES, max(lead, total - lead - len(samples), 0)), dtype=np.int16)
    for start in range(0, lead, FEED_SAMPLES):
        yield silence[: min(FEED_SAMPLES, lead - start)]
    for start in range(0, len(samples), FEED_SAMPLES):
        yield samples[start : start + FEED_SAMPLES]
    tail = total - lead - len(samples)
    for start in range(0, tail, FEED_SAMPLES):
        yield silence[: min(FEED_SAMPLES, tail - start)]


def _ebur128_report(pieces: Iterable[np.ndarray], sample_rate: int, until: int) -> tuple[int, dict[str, str]]:
    """Run FFmpeg's ebur128 over the pieces; (end sample, lavfi.r128.* values) of the last 100 ms frame it
    reports ending at or before sample `until`.

    ebur128 frames its output in 100 ms steps whatever the input's framing, so pieces may be any size.
    Only that frame's values are read: reading every frame's (ten a second) cost as much as the filtering.
    """
    graph = av.filter.Graph()
    graph.threads = 1  # FFmpeg's default starts a thread per core for every graph, so for every chunk measured
    source = graph.add_abuffer(format="s16", sample_rate=sample_rate, layout="mono")
    meter = graph.add("ebur128", "metadata=1")  # loudness only: its true peak resamples to 192 kHz holding the GIL
    sink = graph.add("abuffersink")
    source.link_to(meter)
    meter.link_to(sink)
    graph.configure()
    latest: av.AudioFrame | None = None

    def drain() -> None:
        nonlocal latest
        while True:
            try:
                frame = graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            if frame.pts + frame.samples <= until:
                latest = frame

    position = 0
    for piece in pieces:
        frame = av.AudioFrame.from_ndarray(piece.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = position
        position += len(piece)
        graph.push(frame)
        drain()
    graph.push(None)
    drain()
    if latest is None or not latest.metadata:
        raise ValueError(f"ebur128 reported no loudness up to sample {until}")
    return latest.pts + latest.samples, dict(latest.metadata)


def measure(samples: np.ndarray, sample_rate: int) -> Loudness:
    """Integrated loudness (BS.1770-4, as FFmpeg's ebur128 computes it) and true peak of mono s16 samples.

    ebur128 reports every 100 ms and ignores a trailing partial frame, so the samples are padded
    with silence: the integrated value is read at the last report inside the real samples (BS.1770
    counts only whole 400 ms blocks). The true peak is 4x oversampled in numpy (speech_audio.true_peak).
    Audio too short for ebur128's first 400 ms block gets the loudness of one block holding all of
    it, scaled to its own length: a short chunk ("Yes.") is levelled like the rest, not left alone.
    """
    _check(samples, sample_rate)
    length = len(samples)
    if length == 0:
        return Loudness(None, -math.inf)
    frame = max(sample_rate // 10, 1)  # ebur128 reports every 100 ms
    window = sample_rate * 4 // 10  # over the last 400 ms (its momentary loudness, and its gating blocks)
    first_block_end = -(-window // frame) * frame  # where ebur128 reports its first block (rates like 11025 Hz)
    if length >= window:  # a lead-in shorter than a frame lets a clip between 400 ms and that first report count
        lead = max(0, first_block_end - length)
        padded_length = -(-(lead + length) // frame) * frame + frame
    else:  # lead in with silence so that a report ends exactly where the clip ends, its window holding all of it
        lead = -(-(window + length) // frame) * frame - length
        padded_length = lead + length + frame
    peak = true_peak_dbfs(samples)
    end, values = _ebur128_report(_padded_pieces(samples, lead, padded_length), sample_rate, lead + length)
    if length >= window:
        integrated = float(values["lavfi.r128.I"])
    elif end == lead + length:
        integrated = float(values["lavfi.r128.M"]) + 10 * math.log10(window / length)
    else:
        raise ValueError(f"ebur128 reported no loudness ending at sample {lead + length}")
    return Loudness(integrated if integrated > ABSOLUTE_GATE_LUFS else None, peak)


def chunk_gain_db(loudness: Loudness, target_lufs: float = DEFAULT_TARGET_LUFS) -> float:
    """The gain in dB that brings one chunk to `target_lufs`, within +-MAX_GAIN_DB; 0 for silence."""
    if loudness.integrated_lufs is None:
        return 0.0
    return float(np.clip(target_lufs - loudness.integrated_lufs, -MAX_GAIN_DB, MAX_GAIN_DB))


def ceiling_for(kind: AudioKind) -> float:
    """The limiter ceiling for an output kind: lower for lossy codecs, which push peaks up as they encode."""
    return CEILING_DBTP_FOR.get(kind, DEFAULT_CEILING_DBTP)


def true_peak(samples: np.ndarray) -> float:
    """The 4x oversampled peak of int16 samples, in dBTP (the estimate the limiter holds under its ceiling)."""
    return true_peak_dbfs(samples)


def window_minimum(values: np.ndarray, before: int, after: int) -> np.ndarray:
    """min(values[n - before .. n + after]) for every n, the edge values standing in beyond the ends.

    van Herk and Gil-Werman's method: a running minimum from each block's start and from its end
    (blocks as wide as the window) meet inside any window, so each sample costs three comparisons
    whatever the window's width.
    """
    width = before + after + 1
    padded = np.concatenate((np.full(before, values[0]), values, np.full(after, values[-1])))
    blocks = -(-len(padded) // width)
    filled = np.concatenate((padded, np.full(blocks * width - len(padded), np.inf))).reshape(blocks, width)
    from_start = np.minimum.accumulate(filled, axis=1).ravel()
    from_end = np.minimum.accumulate(filled[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.minimum(from_end[: len(values)], from_start[width - 1 : width - 1 + len(values)])


def _trailing_mean(values: np.ndarray, length: int) -> np.ndarray:
    """Mean of values[n - length + 1 .. n]; the first length - 1 entries are left as they are (ones padding)."""
    sums = np.cumsum(np.concatenate(([0.0], values)))
    result = values.copy()
    result[length - 1 :] = (sums[length:] - sums[:-length]) / length
    return result


def _limiter_gain(signal: np.ndarray, ceiling: float, attack: int, hold: int) -> np.ndarray | None:
    """A gain curve that keeps signal * gain under `ceiling` with smooth ramps; None where no gain is needed.

    The minimum of the needed gain over [n - hold, n + 2 * attack - 2], smoothed by two trailing
    means of `attack` samples (a ramp with rounded corners): every mean that reaches sample n only
    averages minima whose window holds n, so the gain at n never exceeds what n needs.
    """
    envelope = oversampled_magnitude(signal)
    if envelope.max(initial=0.0) <= ceiling:
        return None
    needed = np.minimum(1.0, ceiling / np.maximum(envelope, 1e-12))
    reach = 2 * attack - 1
    pad = reach + hold
    needed = np.concatenate((np.ones(pad), needed, np.ones(pad)))  # beyond the edges nothing needs limiting
    lowest = window_minimum(needed, before=hold, after=reach - 1)
    gain = _trailing_mean(_trailing_mean(lowest, attack), attack)
    return gain[pad:-pad]


def apply_gain(
    samples: np.ndarray, gain_db: float, ceiling_dbtp: float = DEFAULT_CEILING_DBTP, *, sample_rate: int
) -> np.ndarray:
    """Scale by `gain_db`, then limit so the 4x oversampled true peak stays at or under `ceiling_dbtp`.

    Chunk-local and deterministic: the same samples give the same result, whatever else is in the
    narration. Works in blocks, each with enough context on either side that the result does not
    depend on where the blocks fall, so the working memory is a block's, however long the chunk.
    """
    _check(samples, sample_rate)
    scale = 10 ** (gain_db / 20)
    ceiling = FULL_SCALE * 10 ** ((ceiling_dbtp - LIMITER_MARGIN_DB) / 20)
    attack = max(1, round(ATTACK_SECONDS * sample_rate))
    hold = round(HOLD_SECONDS * sample_rate)
    context = 2 * attack + hold + 64  # the gain at n sees peaks this far away; the oversampler about 10 samples
    result = np.empty(len(samples), dtype=np.int16)
    for start in range(0, len(samples), BLOCK_SAMPLES):
        stop = min(start + BLOCK_SAMPLES, len(samples))
        first, last = max(0, start - context), min(len(samples), stop + context)
        signal = samples[first:last].astype(np.float64) * scale
        gain = _limiter_gain(signal, ceiling, attack, hold)
        limited = signal if gain is None else signal * gain
        result[start:stop] = np.clip(np.rint(limited[start - first : stop - first]), -32768, 32767)
    return result
