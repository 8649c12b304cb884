"""Audio for the emulator's answers: real espeak-ng speech, or a fast tone of speech-like length."""

from __future__ import annotations

import asyncio
import math
import re
from array import array
from functools import lru_cache

from speech_audio import espeak
from speech_audio.codec import decode_pcm, encode_pcm
from speech_audio.encodings import AudioEncoding, AudioKind

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\u3040-\u30ff]")
TONE_RATE = 16_000
TONE_CHARACTERS_PER_SECOND = 15.0


def _tone(text: str, speed: float) -> tuple[bytes, int]:
    """A 200 Hz tone as long as `text` would take to speak: fast enough for benchmarks of long books."""
    seconds = max(0.3, len(text) / (TONE_CHARACTERS_PER_SECOND * speed))
    return _tone_period() * max(1, round(seconds * 200)), TONE_RATE


@lru_cache(maxsize=1)
def _tone_period() -> bytes:
    period = TONE_RATE // 200
    return array("h", (int(6000 * math.sin(2 * math.pi * i / period)) for i in range(period))).tobytes()


def _speak(text: str, language: str, speed: float) -> tuple[bytes, int]:
    voice = language
    if voice == "auto":
        voice = "cmn" if len(_CJK.findall(text)) * 5 >= max(1, len(text)) else "en-us"
    speed = min(2.5, max(0.5, speed))
    return espeak.synthesize(text, voice, speed), espeak.sample_rate()


@lru_cache(maxsize=512)
def render_sync(text: str, kind: AudioKind, rate: int, *, language: str, speed: float, engine: str) -> bytes:
    """Speak `text` and encode it as `kind` at `rate` Hz, mono.

    Cached, so the same request always gets the same bytes, as from a deterministic service:
    libespeak-ng carries state from call to call, so two calls on one text differ by a few samples.
    """
    pcm, source_rate = _tone(text, speed) if engine == "tone" else _speak(text, language, speed)
    if source_rate != rate:
        pcm = b"".join(decode_pcm(pcm, AudioEncoding(kind=AudioKind.PCM, sample_rate=source_rate), rate))
    return encode_pcm(pcm, kind, rate)


def silence(kind: AudioKind, rate: int, seconds: float = 1.0) -> bytes:
    return encode_pcm(bytes(int(rate * seconds) * 2), kind, rate)


async def render(text: str, kind: AudioKind, rate: int, *, language: str, speed: float, engine: str) -> bytes:
    return await asyncio.to_thread(render_sync, text, kind, rate, language=language, speed=speed, engine=engine)
