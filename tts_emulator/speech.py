"""Audio for the emulator's answers: real espeak-ng speech, or the fast tone speech of `tone.py`."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from functools import lru_cache

from speech_audio import espeak
from speech_audio.codec import decode_pcm, encode_pcm
from speech_audio.encodings import AudioEncoding, AudioKind
from tts_emulator.tone import tone_speech

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\u3040-\u30ff]")


@dataclass(frozen=True)
class Rendered:
    """Encoded audio, and each sentence's (start, end) in seconds where the engine tells them (tone only)."""

    audio: bytes
    sentences: tuple[tuple[float, float], ...] | None


def _speak(text: str, language: str, speed: float) -> tuple[bytes, int]:
    voice = language
    if voice == "auto":
        voice = "cmn" if len(_CJK.findall(text)) * 5 >= max(1, len(text)) else "en-us"
    speed = min(2.5, max(0.5, speed))
    return espeak.synthesize(text, voice, speed), espeak.sample_rate()


@lru_cache(maxsize=512)
def render_sync(text: str, kind: AudioKind, rate: int, *, language: str, speed: float, engine: str) -> Rendered:
    """Speak `text` and encode it as `kind` at `rate` Hz, mono.

    Cached, so the same request always gets the same bytes, as from a deterministic service:
    libespeak-ng carries state from call to call, so two calls on one text differ by a few samples.
    Tone speech is made at `rate` directly, so its sentence spans hold for the PCM and WAV answers exactly
    (an MP3 or AAC answer starts later by its encoder's delay).
    """
    if engine == "tone":
        tone = tone_speech(text, speed, rate)
        return Rendered(encode_pcm(tone.pcm, kind, rate), tone.sentences)
    pcm, source_rate = _speak(text, language, speed)
    if source_rate != rate:
        pcm = b"".join(decode_pcm(pcm, AudioEncoding(kind=AudioKind.PCM, sample_rate=source_rate), rate))
    return Rendered(encode_pcm(pcm, kind, rate), None)


def silence(kind: AudioKind, rate: int, seconds: float = 1.0) -> bytes:
    return encode_pcm(bytes(int(rate * seconds) * 2), kind, rate)


async def render(text: str, kind: AudioKind, rate: int, *, language: str, speed: float, engine: str) -> Rendered:
    return await asyncio.to_thread(render_sync, text, kind, rate, language=language, speed=speed, engine=engine)
