"""Clean joins: each chunk trimmed to its speech plus one margin, and faded so the samples meet without a click."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speech_audio import espeak
from tasks.output.joins import fade_edges, speech_span, trim

RATE = espeak.sample_rate()
KEEP = 0.02
TOLERANCE = round(0.030 * RATE)
SENTENCES = [
    ("en-us", 1.0, "Hello there, this is a test of the join."),
    ("en-gb", 1.3, "Sixty six sizzling sausages, she said."),
    ("fr", 0.9, "Les chaussettes de l'archiduchesse sont-elles sèches?"),
]


@cache
def speech(index: int) -> np.ndarray:
    voice, speed, text = SENTENCES[index]
    return np.frombuffer(espeak.synthesize(text, voice, speed), dtype=np.int16)


def audible_bounds(samples: np.ndarray) -> tuple[int, int]:
    """Where the speech is, judged differently from the module: samples within 40 dB of the chunk's peak."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int64)) > 0.01 * np.abs(samples.astype(np.int64)).max())
    return int(loud[0]), int(loud[-1]) + 1


def room_noise(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Silence as services send it: a faint noise floor (about -80 dBFS), not digital zero."""
    return np.rint(rng.normal(0, 3, round(seconds * RATE))).astype(np.int16)


@settings(max_examples=30, deadline=None)
@given(
    index=st.integers(0, len(SENTENCES) - 1),
    lead=st.floats(0.0, 0.8),
    tail=st.floats(0.0, 0.8),
    seed=st.integers(0, 2**32 - 1),
)
def test_padding_is_trimmed_to_the_same_margin_around_the_speech(index, lead, tail, seed):
    rng = np.random.default_rng(seed)
    before, after = room_noise(rng, lead), room_noise(rng, tail)
    padded = np.concatenate([before, speech(index), after])
    result = trim(padded, RATE, keep_seconds=KEEP)
    # the result is a slice of the input: find where, through the loudest sample
    offset = int(np.argmax(np.abs(padded.astype(np.int64)))) - int(np.argmax(np.abs(result.astype(np.int64))))
    assert np.array_equal(padded[offset : offset + len(result)], result)
    start, end = audible_bounds(speech(index))
    leading = len(before) + start - offset
    trailing = offset + len(result) - (len(before) + end)
    assert abs(leading - round(KEEP * RATE)) <= TOLERANCE
    assert abs(trailing - round(KEEP * RATE)) <= TOLERANCE


def test_a_chunk_cut_off_keeps_what_it_has():
    cut = speech(0)[: len(speech(0)) // 2]
    result = trim(cut, RATE)
    assert np.array_equal(result, cut[len(cut) - len(result) :])  # nothing added after the cut


@pytest.mark.parametrize(
    "samples",
    [np.zeros(RATE, np.int16), np.zeros(0, np.int16), np.full(RATE, 3000, np.int16)],
    ids=["zeros", "empty", "a DC offset alone"],
)
def test_a_chunk_without_speech_trims_to_nothing(samples):
    assert speech_span(samples, RATE) is None
    assert len(trim(samples, RATE)) == 0


def test_a_quiet_noise_floor_is_not_speech_however_loud_it_is_relative_to_itself():
    noise = room_noise(np.random.default_rng(7), 1.0)  # -80 dBFS: under the -60 dBFS floor
    assert speech_span(noise, RATE) is None


@settings(max_examples=60, deadline=None)
@given(
    samples=st.lists(st.integers(-32768, 32767), max_size=600).map(lambda values: np.array(values, np.int16)),
    fade=st.floats(0.0, 0.02),
)
def test_fades_start_and_end_at_zero_and_never_add_level(samples, fade):
    result = fade_edges(samples, RATE, fade_seconds=fade)
    assert result.dtype == np.int16 and len(result) == len(samples)
    assert np.all(np.abs(result.astype(np.int64)) <= np.abs(samples.astype(np.int64)))
    length = min(round(fade * RATE), len(samples) // 2)
    if length:
        assert result[0] == 0 and result[-1] == 0
    assert np.array_equal(result[length : len(samples) - length], samples[length : len(samples) - length])


def steps(samples: np.ndarray) -> np.ndarray:
    return np.abs(np.diff(samples.astype(np.int64)))


def join_steps(parts: list[np.ndarray]) -> list[int]:
    """The largest sample-to-sample step within 2 ms either side of each join."""
    joined = np.concatenate(parts)
    reach = round(0.002 * RATE)
    found, position = [], 0
    for part in parts[:-1]:
        position += len(part)
        found.append(int(steps(joined[max(0, position - reach) : position + reach]).max()))
    return found


def cut_at_loudest(samples: np.ndarray) -> int:
    middle = slice(len(samples) // 3, 2 * len(samples) // 3)
    return len(samples) // 3 + int(np.argmax(np.abs(samples[middle].astype(np.int64))))


@pytest.mark.parametrize("fault", ["a DC offset", "cut mid-waveform"])
def test_treated_joins_do_not_step_further_than_the_voice_itself(fault):
    first, second = speech(0), speech(1)
    if fault == "a DC offset":
        first = np.clip(first.astype(np.int64) + 4000, -32768, 32767).astype(np.int16)
        second = np.clip(second.astype(np.int64) - 4000, -32768, 32767).astype(np.int16)
    else:
        first, second = first[: cut_at_loudest(first)], second[cut_at_loudest(second) :]
    voice_steps = np.concatenate([steps(speech(0)), steps(speech(1))])
    click = np.percentile(voice_steps[voice_steps > 0], 90)  # a step the voice itself takes one time in ten
    pause = np.zeros(round(0.3 * RATE), np.int16)

    untreated = join_steps([first, pause, second])
    assert max(untreated) > click  # so the test can fail

    treated = join_steps([fade_edges(trim(first, RATE), RATE), pause, fade_edges(trim(second, RATE), RATE)])
    assert max(treated) < click


def test_joined_chunks_get_exactly_the_pause_the_assembly_adds():
    rng = np.random.default_rng(3)
    paddings = [(0, 0.6, 0.1), (1, 0.05, 0.7), (2, 0.3, 0.4)]  # (sentence, lead, tail) in seconds
    chunks = [np.concatenate([room_noise(rng, lead), speech(i), room_noise(rng, tail)]) for i, lead, tail in paddings]

    def gaps(treat) -> list[int]:
        """Samples of non-speech each join brings, on top of the assembly's pause."""
        found = []
        for first, second in zip(chunks, chunks[1:], strict=False):
            before, after = treat(first), treat(second)
            found.append(len(before) - audible_bounds(before)[1] + audible_bounds(after)[0])
        return found

    untreated = gaps(lambda chunk: chunk)
    assert max(untreated) - min(untreated) > round(0.3 * RATE)  # so the test can fail
    treated = gaps(lambda chunk: trim(chunk, RATE))
    assert max(treated) - min(treated) <= TOLERANCE
