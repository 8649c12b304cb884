"""Tone speech: a fast stand-in for espeak that is still shaped like speech, so clients cannot cheat on it.

One burst per sentence (the text split on . ! ? 。！？ and newlines), 180-700 ms of silence between sentences,
60-120 ms at some commas, 20-300 ms of silence before and after. Each burst lasts its sentence's characters
times a factor of 0.6 to 1.6 drawn from a hash of the sentence, with its own pitch and loudness and a
syllable-like loudness pattern that never falls silent: deterministic for the same text, yet not predictable
from character counts. Every duration is divided by the speed. The total stays inside what a client's audio
check accepts: at least len(text) / 40 and at most 3 + len(text) / 0.5 seconds, at speed 1.

Audio is built from one cached period of a two-harmonic wave per (period, loudness) pair, repeated, so an
hour of it costs milliseconds; loudness changes only at period boundaries, where the wave crosses zero.
"""

from __future__ import annotations

import hashlib
import math
import re
from array import array
from dataclasses import dataclass
from functools import lru_cache

SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]*")
COMMA = re.compile(r"[,，、]")
_WORD = re.compile(r"\w")
SECONDS_PER_CHARACTER = 1 / 16.5  # with the mean factor 1.1: 15 characters a second, as the old tone had
MIN_BURST_SECONDS = 0.08
FACTOR = (0.6, 1.6)
SENTENCE_PAUSE = (0.18, 0.70)
COMMA_PAUSE = (0.06, 0.12)
COMMA_PAUSE_SHARE = 0.5  # how many commas get a pause
EDGE_SILENCE = (0.02, 0.30)
SYLLABLE = (0.12, 0.26)
PITCH_HZ = (120.0, 260.0)
LOUDNESS = (0.2, 0.75)  # of full scale, per sentence
SYLLABLE_FLOOR = 0.45  # a syllable's loudness, as a share of its sentence's, is at least this
FASTEST_CHARACTERS_PER_SECOND = 30.0  # stretch bursts if a text would otherwise come out faster than this


@dataclass(frozen=True)
class ToneSpeech:
    """s16le mono PCM, and each sentence's span (start, end) in seconds."""

    pcm: bytes
    sample_rate: int
    sentences: tuple[tuple[float, float], ...]


def sentences(text: str) -> list[str]:
    """The sentences that get a burst each: pieces holding a letter or digit; the whole text if none does."""
    found = [piece.strip() for piece in SENTENCE.findall(text) if _WORD.search(piece)]
    return found or [text.strip() or text]


def _draw(key: str, what: str, bounds: tuple[float, float]) -> float:
    """A number in `bounds` fixed by `key` and `what`: the same text always gets the same speech."""
    digest = hashlib.blake2b(f"{what}\0{key}".encode(), digest_size=8).digest()
    low, high = bounds
    return low + (high - low) * int.from_bytes(digest, "big") / 2**64


@lru_cache(maxsize=16384)
def _period(samples: int, amplitude: int) -> bytes:
    """One period of the wave, starting and ending at zero."""
    return array(
        "h",
        (
            round(amplitude * (0.77 * math.sin(2 * math.pi * i / samples) + 0.23 * math.sin(4 * math.pi * i / samples)))
            for i in range(samples)
        ),
    ).tobytes()


def _parts(sentence: str) -> tuple[list[int], list[float]]:
    """Characters of the sentence's comma-separated parts, and the pause (0.0: none) after each part but the last."""
    pieces = COMMA.split(sentence)
    pauses = [
        _draw(f"{i}:{sentence}", "comma-pause", COMMA_PAUSE)
        if _draw(f"{i}:{sentence}", "comma", (0.0, 1.0)) < COMMA_PAUSE_SHARE
        else 0.0
        for i in range(len(pieces) - 1)
    ]
    return [max(1, len(piece)) for piece in pieces], pauses


def tone_speech(text: str, speed: float, sample_rate: int) -> ToneSpeech:
    """Speak `text` as tone bursts at `sample_rate` Hz; see the module docstring for the shape."""
    spoken = sentences(text)
    bursts = [
        max(MIN_BURST_SECONDS, len(s) * SECONDS_PER_CHARACTER * _draw(s, "factor", FACTOR)) / speed for s in spoken
    ]
    lead = _draw(text, "lead", EDGE_SILENCE) / speed
    trail = _draw(text, "trail", EDGE_SILENCE) / speed
    gaps = [_draw(f"{i}:{s}", "pause", SENTENCE_PAUSE) / speed for i, s in enumerate(spoken[1:])]
    shortest = len(text.strip()) / (FASTEST_CHARACTERS_PER_SECOND * speed)
    if sum(bursts) + sum(gaps) < shortest:  # text the sentences leave out (lines of dashes, blank lines…)
        stretch = (shortest - sum(gaps)) / sum(bursts)
        bursts = [b * stretch for b in bursts]
    out = bytearray()
    spans: list[tuple[float, float]] = []

    def silence(seconds: float) -> None:
        out.extend(bytes(2 * round(seconds * sample_rate)))

    silence(lead)
    for index, (sentence, burst) in enumerate(zip(spoken, bursts, strict=True)):
        if index:
            silence(gaps[index - 1])
        start = len(out) // 2
        _burst(out, sentence, burst, speed, sample_rate)
        spans.append((start / sample_rate, len(out) // 2 / sample_rate))
    silence(trail)
    return ToneSpeech(bytes(out), sample_rate, tuple(spans))


def _burst(out: bytearray, sentence: str, seconds: float, speed: float, sample_rate: int) -> None:
    """Append one sentence's burst: its parts in syllables, with the pauses drawn at its commas."""
    period = max(2, round(sample_rate / _draw(sentence, "pitch", PITCH_HZ)))
    loudness = _draw(sentence, "loudness", LOUDNESS) * 32767
    characters, pauses = _parts(sentence)
    syllable = 0
    for part, part_characters in enumerate(characters):
        if part:
            out.extend(bytes(2 * round(pauses[part - 1] / speed * sample_rate)))
        left = seconds * part_characters / sum(characters)
        while left > 0:
            length = min(left, _draw(f"{syllable}:{sentence}", "syllable", SYLLABLE) / speed)
            if left - length < 0.5 * SYLLABLE[0] / speed:  # no crumb of a syllable at the end
                length = left
            level = _draw(f"{syllable}:{sentence}", "level", (SYLLABLE_FLOOR, 1.0))
            amplitude = round(loudness * level / 512) * 512  # a few levels, so the period cache stays small
            out.extend(_period(period, amplitude) * max(1, round(length * sample_rate / period)))
            left -= length
            syllable += 1
