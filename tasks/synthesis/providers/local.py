"""The local engine: espeak-ng in this process, lossless WAV out."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from blocks.local_speech import LocalSpeech
from speech_audio import espeak
from speech_audio.codec import encode_pcm
from speech_audio.encodings import AudioEncoding, AudioKind
from tasks.errors import NarrationInputError
from tasks.models import PlannedChunk, SynthesizedAudio
from tasks.synthesis.providers.base import SpeechEngine
from tasks.text.chunking import sentence_offsets

_CJK_CHARACTERS = "\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_SCRIPT_RUN = re.compile(f"[{_CJK_CHARACTERS}]+|[^{_CJK_CHARACTERS}]+")
_HAS_CJK = re.compile(f"[{_CJK_CHARACTERS}]")
_HAS_SPEECH = re.compile(r"\w")
AUTO_VOICE = "auto"


def voice_runs(text: str, voice: str) -> list[tuple[str, str]]:
    """(voice, text) pieces: 'auto' speaks Han and kana runs with Mandarin and the rest in English."""
    if voice != AUTO_VOICE:
        return [(voice, text)]
    runs = [
        ("cmn" if _HAS_CJK.match(run) else "en-us", run) for run in _SCRIPT_RUN.findall(text) if _HAS_SPEECH.search(run)
    ]
    return runs or [("en-us", text)]


def _speak(text: str, voice: str, speed: float, sentence_offsets: list[int]) -> tuple[bytes, list[float] | None]:
    """The speech of `text`, and the second at which each sentence (starting at those character offsets) starts.

    espeak-ng reports where it starts each word; a sentence starts with its first word. Runs spoken
    in another voice are synthesized apart and joined, so their marks are shifted by what came before.
    """
    rate = espeak.sample_rate()
    pieces: list[bytes] = []
    word_starts: list[tuple[int, int]] = []  # (character offset in text, sample)
    samples = 0
    position = 0
    for run_voice, run in voice_runs(text, voice):
        offset = text.find(run, position)
        position = offset + len(run) if offset >= 0 else position
        pcm, marks = espeak.synthesize_with_marks(run, run_voice, speed)
        word_starts += [
            (max(offset, 0) + mark.text_position, samples + mark.sample) for mark in marks if mark.kind == "word"
        ]
        pieces.append(pcm)
        samples += len(pcm) // 2
    starts: list[float] = []
    for sentence_offset in sentence_offsets:
        first = next((sample for at, sample in word_starts if at >= sentence_offset), None)
        if first is None:
            return b"".join(pieces), None
        starts.append(first / rate)
    return b"".join(pieces), starts if starts == sorted(starts) else None


class LocalEngine(SpeechEngine):
    block_type = LocalSpeech

    async def prepare(self) -> None:
        block: LocalSpeech = self.block  # type: ignore[assignment]
        if not block.MIN_SPEED <= self.speed <= block.MAX_SPEED:
            raise NarrationInputError(
                "speed", f"{self.speed} is outside the local engine's range {block.MIN_SPEED} to {block.MAX_SPEED}"
            )
        if self.voice != AUTO_VOICE and self.voice.lower() not in espeak.voice_names():
            sample = ", ".join(sorted(espeak.voice_names())[:12])
            raise NarrationInputError(
                "voice", f"the local engine has no voice {self.voice!r}; use 'auto' or one of {sample}, …"
            )

    def identity(self) -> dict[str, Any]:
        return {"provider": self.slug, "voice": self.voice.lower(), "speed": self.speed, "engine": "espeak-ng"}

    async def synthesize(self, chunk: PlannedChunk) -> SynthesizedAudio:
        rate = espeak.sample_rate()
        offsets = sentence_offsets(chunk.spoken, self.language)  # the respelled text's sentences are the written ones
        pcm, starts = await asyncio.to_thread(_speak, chunk.spoken, self.voice, self.speed, offsets)
        wav = await asyncio.to_thread(encode_pcm, pcm, AudioKind.WAV, rate)
        return SynthesizedAudio(audio=wav, encoding=AudioEncoding(kind=AudioKind.WAV), sentence_starts=starts)
