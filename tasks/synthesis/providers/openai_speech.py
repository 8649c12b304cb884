"""OpenAI-compatible speech, and MaaS OSpeech (the same body on `/audio/speech`)."""

from __future__ import annotations

from typing import Any

from blocks.maas_speech import MaasOSpeech
from blocks.openai_speech import OpenAISpeech
from speech_audio.encodings import AudioEncoding, AudioKind
from tasks.errors import NarrationInputError
from tasks.models import PlannedChunk, SynthesizedAudio
from tasks.synthesis.providers.http import HttpEngine

PCM_RATE = 24_000  # OpenAI's `pcm` is 24 kHz s16le mono
STYLELESS_MODELS = ("tts-1", "tts-1-hd")  # OpenAI's models that take no `instructions`


def _encoding(response_format: str) -> AudioEncoding:
    kind = AudioKind(response_format)
    return AudioEncoding(kind=kind, sample_rate=PCM_RATE if kind == AudioKind.PCM else None)


class OpenAISpeechEngine(HttpEngine):
    block_type = OpenAISpeech
    path = "/v1/audio/speech"
    block: OpenAISpeech

    async def prepare(self) -> None:
        block = self.block
        if not block.accept_unlisted:
            if block.model not in block.MODELS:
                raise NarrationInputError(
                    "model",
                    f"{block.model!r} is not one of {', '.join(block.MODELS)} (set 'accept_unlisted' for a relay)",
                )
            self.check_voice()
        self.check_speed()
        if self.instructions is not None and block.model in STYLELESS_MODELS:
            raise NarrationInputError(
                "instructions", f"{block.model} takes no instructions; use a model that does, e.g. gpt-4o-mini-tts"
            )

    def check_voice(self) -> None:
        if self.voice not in self.block.VOICES:
            raise NarrationInputError("voice", f"{self.voice!r} is not one of {', '.join(self.block.VOICES)}")

    def check_speed(self) -> None:
        if not 0.25 <= self.speed <= 4.0:
            raise NarrationInputError("speed", f"{self.speed} is outside 0.25 to 4.0")

    def identity(self) -> dict[str, Any]:
        identity = super().identity() | {
            "model": self.block.model,
            "voice": self.voice,
            "speed": self.speed,
            "format": self.block.response_format,
        }
        if self.instructions is not None:  # only when set: blocks without keep their stored chunks' keys
            identity["instructions"] = self.instructions
        return identity

    @property
    def instructions(self) -> str | None:
        """The speaking style, where the block has one (MaaS OSpeech blocks have none); blank counts as none."""
        instructions = getattr(self.block, "instructions", None)
        return instructions if instructions and instructions.strip() else None

    def body(self, text: str) -> dict[str, Any]:
        body = {
            "model": self.block.model,
            "input": text,
            "voice": self.voice,
            "response_format": self.block.response_format,
            "speed": self.speed,
        }
        if self.instructions is not None:
            body["instructions"] = self.instructions
        return body

    async def synthesize(self, chunk: PlannedChunk) -> SynthesizedAudio:
        headers, body = await self.send_for_audio("POST", self.path, json=self.body(chunk.spoken))
        return SynthesizedAudio(
            audio=body.audio,
            audio_file=body.file,
            encoding=_encoding(self.block.response_format),
            request_id=headers.get("x-request-id"),
        )


class MaasOSpeechEngine(OpenAISpeechEngine):
    block_type = MaasOSpeech
    path = "/audio/speech"
    block: MaasOSpeech

    async def prepare(self) -> None:
        self.check_voice()
        self.check_speed()

    def body(self, text: str) -> dict[str, Any]:
        body = {"input": text, "voice": self.voice, "response_format": self.block.response_format, "speed": self.speed}
        if self.block.model:
            body["model"] = self.block.model
        return body

    def identity(self) -> dict[str, Any]:
        return super().identity() | {"model": self.block.model}
