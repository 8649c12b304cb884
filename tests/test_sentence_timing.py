"""Sentence timing from the audio: boundaries land in the real gaps of real espeak-ng speech.

Each sentence is synthesized on its own and trimmed; chunks join them with silent gaps of known,
seeded lengths, so the true boundary of every sentence is the gap we inserted. The sentences are
chosen so that their durations are not proportional to their characters (numbers, abbreviations,
very short and very long sentences) and so that commas make pauses inside them.
"""

from __future__ import annotations

import random
import re
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speech_audio import espeak
from tasks.errors import NarrationInputError
from tasks.output.sentence_timing import SentenceTiming, find_pauses, place_sentences, speech_span

SENTENCES = [
    "Yes.",
    "Right.",
    "No way!",
    "Hi.",
    "Birds sang.",
    "I agree.",
    "Sure, why not?",
    "Ok, thanks.",
    "Please, sit down.",
    "What time is it?",
    "The population reached 8,045,311 in 2023.",
    "Flight 2207 leaves at 6:15 from gate 34B.",
    "Invoice no. 77-4410 totals $12,980.50.",
    "Between 1914 and 1918, 16,000,000 people died.",
    "It happened on 03/04/2021 at 11:59:59.",
    "We bought 3 kg of apples and 250 g of cheese.",
    "Their new model, the X-3000, runs at 4.2 GHz.",
    "Temperature: 37.5 degrees, pulse 72, pressure 120/80.",
    "Mrs. Brown and Lt. Col. Adams met at 5 p.m.",
    "The W.H.O. and the E.U. issued a joint statement.",
    "See fig. 3, p. 214, vol. 2, etc.",
    "After dinner, before the film, we talked; later, we slept.",
    "Red, orange, yellow, green, blue, indigo, violet.",
    "However, as I said, it depends.",
    "The river flows quietly past the old mill.",
    "Children played in the park until sunset.",
    "Although the expedition had been planned for nearly three years, with every supply counted and every "
    "route mapped, the sudden storm that swept across the glacier forced the team to turn back only a few "
    "hundred metres from the summit.",
    "The library, which had survived two wars and a flood, finally closed its doors last spring, leaving "
    "the town without a place where people of every age could sit together and read in silence.",
]
SLACK = 0.12  # a placed end counts when it falls in the true gap widened by this much on each side
BAR = 0.95


def trimmed(pcm: bytes) -> np.ndarray:
    """The speech without its leading and trailing silence (test-side: 1 % of the peak)."""
    samples = np.frombuffer(pcm, dtype=np.int16)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 0.01 * np.abs(samples.astype(np.int32)).max())
    return samples[loud[0] : loud[-1] + 1]


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    return {text: trimmed(espeak.synthesize(text, "en-us", 1.0)) for text in SENTENCES}


def chunks(clips, seed: int, count: int, *, noise: float = 0.0, gain: float = 1.0):
    """Seeded chunks of 2-8 sentences joined by 150-600 ms of silence; yields texts, samples, true gaps."""
    rate = espeak.sample_rate()
    rng = random.Random(seed)
    noise_rng = np.random.default_rng(seed)
    for _ in range(count):
        texts = rng.sample(SENTENCES, rng.randint(2, 8))
        parts = [np.zeros(int(rng.uniform(0.05, 0.3) * rate), np.int16)]
        position, gaps = parts[0].size, []
        for index, text in enumerate(texts):
            parts.append(clips[text])
            position += clips[text].size
            if index < len(texts) - 1:
                gap = int(rng.uniform(0.15, 0.6) * rate)
                gaps.append((position / rate, (position + gap) / rate))
                parts.append(np.zeros(gap, np.int16))
                position += gap
        parts.append(np.zeros(int(rng.uniform(0.05, 0.3) * rate), np.int16))
        audio = np.concatenate(parts).astype(np.float64) * gain
        if noise:
            audio += noise_rng.normal(0.0, noise, audio.size)
        yield texts, np.clip(np.round(audio), -32768, 32767).astype(np.int16), gaps


@pytest.mark.parametrize(
    ("seed", "noise", "gain"),
    [
        (1, 0.0, 1.0),  # clean
        (2, 30.0, 1.0),  # white noise floor at about -60 dBFS
        (3, 0.0, 0.02),  # quiet speech, 34 dB down
    ],
    ids=["clean", "noise-floor", "quiet"],
)
def test_sentence_ends_fall_in_the_true_gaps_where_proportional_timing_does_not(clips, seed, noise, gain):
    rate = espeak.sample_rate()
    placed_hits = proportional_hits = boundaries = 0
    for texts, audio, gaps in chunks(clips, seed, 60, noise=noise, gain=gain):
        timing = place_sentences(texts, audio, rate)
        spans = timing.spans
        assert len(spans) == len(texts)
        assert all(start < end for start, end in spans)
        assert all(before[1] <= after[0] for before, after in zip(spans, spans[1:], strict=False))
        onset, offset = speech_span(audio, rate)
        weights = np.array([len("".join(text.split())) for text in texts], dtype=float)
        proportional = onset + (offset - onset) * np.cumsum(weights)[:-1] / weights.sum()
        for (gap_start, gap_end), (_, placed_end), guess in zip(gaps, spans, proportional, strict=False):
            boundaries += 1
            placed_hits += gap_start - SLACK <= placed_end <= gap_end + SLACK
            proportional_hits += gap_start - SLACK <= guess <= gap_end + SLACK
    assert boundaries >= 200
    assert placed_hits / boundaries >= BAR
    assert proportional_hits / boundaries < BAR  # the data is hard: character shares alone miss


def test_the_first_sentence_starts_at_the_first_sound_and_the_last_ends_at_the_last(clips):
    rate = espeak.sample_rate()
    texts, audio, _ = next(chunks(clips, 7, 1))
    lead = np.flatnonzero(audio)[0] / rate
    tail = (np.flatnonzero(audio)[-1] + 1) / rate
    timing = place_sentences(texts, audio, rate)
    assert timing.spans[0][0] == pytest.approx(lead, abs=0.03)
    assert timing.spans[-1][1] == pytest.approx(tail, abs=0.03)


def test_a_minute_at_24_khz_is_placed_in_well_under_50_ms(clips):
    rng = random.Random(5)
    texts, parts = [], []
    rate = espeak.sample_rate()
    while sum(part.size for part in parts) < 61 * rate:
        text = rng.choice(SENTENCES)
        texts.append(text)
        parts += [clips[text], np.zeros(int(rng.uniform(0.15, 0.6) * rate), np.int16)]
    audio = np.concatenate(parts)
    resampled = np.interp(np.arange(audio.size * 24000 // rate) * rate / 24000, np.arange(audio.size), audio)
    samples = resampled.astype(np.int16)
    best = min(_timed(lambda: place_sentences(texts, samples, 24000)) for _ in range(5))
    assert best < 0.05


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


# ---------------------------------------------------------------- synthetic signals with known silences

RATE = 24000


def flat(spans: list[tuple[float, float]]) -> list[float]:
    return [value for span in spans for value in span]


def bursts(layout: list[tuple[str, float]], *, level: float = 3000.0, floor: float = 0.0, seed: int = 0) -> np.ndarray:
    """Noise bursts ("sound") and silences of the given lengths, in order, over an optional noise floor."""
    rng = np.random.default_rng(seed)
    pieces = [
        rng.normal(0.0, level if kind == "sound" else 0.0, int(round(seconds * RATE))) for kind, seconds in layout
    ]
    signal = np.concatenate(pieces)
    if floor:
        signal += rng.normal(0.0, floor, signal.size)
    return np.clip(np.round(signal), -32768, 32767).astype(np.int16)


LAYOUT = [
    ("silence", 0.3),
    ("sound", 0.8),
    ("silence", 0.05),  # too short to be a pause
    ("sound", 0.6),
    ("silence", 0.12),
    ("sound", 1.0),
    ("silence", 0.5),
    ("sound", 0.7),
    ("silence", 0.4),
]


@pytest.mark.parametrize(
    ("level", "floor"),
    [(3000.0, 0.0), (3000.0, 40.0), (40.0, 0.0), (300.0, 8.0)],
    ids=["clean", "noise-floor", "quiet", "quiet-over-noise"],
)
def test_pauses_are_the_silences_inside_the_speech(level, floor):
    samples = bursts(LAYOUT, level=level, floor=floor)
    pauses = find_pauses(samples, RATE)
    assert flat(pauses) == pytest.approx([1.75, 1.87, 2.87, 3.37], abs=0.011)
    onset, offset = speech_span(samples, RATE)
    assert (onset, offset) == pytest.approx((0.3, 4.07), abs=0.011)
    assert find_pauses(samples, RATE, min_pause_seconds=0.3) == pauses[1:]


def test_a_click_inside_a_pause_does_not_split_it():
    samples = bursts([("silence", 0.2), ("sound", 0.5), ("silence", 0.6), ("sound", 0.5), ("silence", 0.2)])
    samples[int(0.95 * RATE) : int(0.95 * RATE) + 48] = 20000  # 2 ms click in the middle of the pause
    assert flat(find_pauses(samples, RATE)) == pytest.approx([0.7, 1.3], abs=0.011)


@pytest.mark.parametrize(
    ("layout", "sentences", "method"),
    [
        # One sentence: the speech span, whatever the pauses.
        ([("silence", 0.2), ("sound", 1.0), ("silence", 0.3), ("sound", 1.0)], ["Only one, really."], "pauses"),
        # Two boundaries, two clear pauses.
        (
            [("sound", 1.0), ("silence", 0.4), ("sound", 1.0), ("silence", 0.4), ("sound", 1.0)],
            ["First one.", "Second one.", "Third one."],
            "pauses",
        ),
        # No pause anywhere: character shares.
        ([("sound", 3.0)], ["First one.", "Second one.", "Third one."], "proportional"),
        # One pause for two boundaries.
        ([("sound", 1.0), ("silence", 0.4), ("sound", 2.0)], ["First one.", "Second one.", "Third one."], "mixed"),
    ],
)
def test_method_says_how_the_boundaries_were_found(layout, sentences, method):
    samples = bursts([("silence", 0.1), *layout, ("silence", 0.1)])
    timing = place_sentences(sentences, samples, RATE)
    assert timing.method == method
    assert len(timing.spans) == len(sentences)


def test_without_pauses_sentences_share_the_speech_by_characters():
    samples = bursts([("silence", 0.5), ("sound", 4.0), ("silence", 0.5)])
    timing = place_sentences(["abc.", "abcdefghijk.", "abc."], samples, RATE)  # 4 + 12 + 4 characters
    assert flat(timing.spans) == pytest.approx([0.5, 1.3, 1.3, 3.7, 3.7, 4.5], abs=0.011)


def test_a_boundary_without_a_pause_is_placed_by_characters_between_the_pauses_found():
    samples = bursts([("silence", 0.5), ("sound", 1.0), ("silence", 0.5), ("sound", 3.0), ("silence", 0.5)])
    timing = place_sentences(["One two.", "abc.", "abcdefgh."], samples, RATE)  # 7 + 4 + 9 spoken characters
    assert timing.method == "mixed"
    split = 2.0 + 3.0 * 4 / 13  # the second pause-less boundary: 4 of the last 13 characters after the pause
    assert flat(timing.spans) == pytest.approx([0.5, 1.5, 2.0, split, split, 5.0], abs=0.011)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.05, 2.0), st.floats(0.02, 0.8)), min_size=1, max_size=8),
    st.lists(st.text(alphabet="ab ,.", min_size=0, max_size=30), min_size=1, max_size=8),
    st.floats(0.0, 0.5),
)
def test_spans_are_ordered_and_cover_the_speech_for_any_layout(sounds, sentences, lead):
    layout = [("silence", lead)] + [item for sound, pause in sounds for item in (("sound", sound), ("silence", pause))]
    samples = bursts(layout)
    timing = place_sentences(sentences, samples, RATE)
    onset, offset = speech_span(samples, RATE)
    assert timing.spans[0][0] == onset and timing.spans[-1][1] == offset
    assert all(start < end for start, end in timing.spans)
    assert all(before[1] <= after[0] for before, after in zip(timing.spans, timing.spans[1:], strict=False))
    assert timing.method in {"pauses", "proportional", "mixed"}
    if len(sentences) == 1:
        assert timing == SentenceTiming([(onset, offset)], "pauses")


@pytest.mark.parametrize(
    ("sentences", "samples", "rate", "field"),
    [
        ([], np.zeros(100, np.int16), RATE, "sentences"),
        (["a."], np.zeros(0, np.int16), RATE, "samples"),
        (["a."], np.zeros((2, 100), np.int16), RATE, "samples"),
        (["a."], np.zeros(100, np.int16), 0, "sample_rate"),
    ],
)
def test_bad_input_is_refused_naming_the_field(sentences, samples, rate, field):
    with pytest.raises(NarrationInputError) as raised:
        place_sentences(sentences, samples, rate)
    assert raised.value.field == field


# ---------------------------------------------------------------- espeak-ng's own word and sentence marks

MARKED_TEXT = "The quick brown fox jumps over the lazy dog. Café au lait, naïve résumé! Then we left."


def test_espeak_word_marks_map_to_the_words_of_the_text_in_order():
    pcm, marks = espeak.synthesize_with_marks(MARKED_TEXT)
    words = [mark for mark in marks if mark.kind == "word"]
    spoken = [MARKED_TEXT[mark.text_position : mark.text_position + mark.length] for mark in words]
    assert spoken == re.findall(r"\w+", MARKED_TEXT)  # "Café", "naïve": positions count characters, not bytes
    samples = [mark.sample for mark in words]
    assert samples == sorted(set(samples))  # strictly increasing
    assert 0 <= samples[0] and samples[-1] < len(pcm) // 2
    assert abs(len(pcm) - len(espeak.synthesize(MARKED_TEXT))) < 0.02 * len(pcm)  # the same speech as `synthesize`


def test_espeak_sentence_marks_fall_in_the_pauses_found_in_the_audio():
    pcm, marks = espeak.synthesize_with_marks(MARKED_TEXT)
    sentences = [mark for mark in marks if mark.kind == "sentence"]
    assert [MARKED_TEXT[m.text_position : m.text_position + m.length].strip() for m in sentences] == [
        "The quick brown fox jumps over the lazy dog.",
        "Café au lait, naïve résumé!",
        "Then we left.",
    ]
    rate = espeak.sample_rate()
    pauses = find_pauses(np.frombuffer(pcm, dtype=np.int16), rate)
    for mark in sentences[1:]:  # two measurements of the same audio agree: each new sentence starts at a pause
        assert any(start <= mark.sample / rate <= end + 0.05 for start, end in pauses)


def test_espeak_marks_for_numbers_stay_inside_the_text_and_in_order():
    text = "It cost 1,234,567 dollars in 1987."
    pcm, marks = espeak.synthesize_with_marks(text)
    words = [mark for mark in marks if mark.kind == "word"]
    assert all(0 <= m.text_position and m.text_position + m.length <= len(text) for m in words)
    assert [m.text_position for m in words] == sorted({m.text_position for m in words})
    assert [m.sample for m in words] == sorted(m.sample for m in words)
    assert all(m.sample <= len(pcm) // 2 for m in marks)
