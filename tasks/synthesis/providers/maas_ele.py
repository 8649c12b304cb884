"""MaaS-Ele (ElevenLabs-compatible): continuity context, optional request stitching, character costs."""

from __future__ import annotations

from collections import deque
from typing import Any

from blocks.maas_ele import MaasEle
from speech_audio.encodings import AudioEncoding, AudioKind
from tasks.errors import NarrationInputError
from tasks.models import ChunkText, PlannedChunk, SynthesizedAudio
from tasks.synthesis.providers.http import HttpEngine

MAX_STITCHED_IDS = 3


def ele_encoding(output_format: str) -> AudioEncoding:
    """mp3_44100_128 → mp3; pcm_24000 → raw PCM at 24 kHz; ulaw_8000 → raw mu-law at 8 kHz."""
    codec, rate, *_ = output_format.split("_")
    if codec == "mp3":
        return AudioEncoding(kind=AudioKind.MP3)
    return AudioEncoding(kind=AudioKind.PCM if codec == "pcm" else AudioKind.ULAW, sample_rate=int(rate))


class MaasEleEngine(HttpEngine):
    block_type = MaasEle
    block: MaasEle

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recent_request_ids: deque[str] = deque(maxlen=MAX_STITCHED_IDS)

    def default_speed(self) -> float:
        return 1.0

    @property
    def voice_id(self) -> str:
        return self.block.VOICE_IDS.get(self.voice, self.voice)

    @property
    def sequential(self) -> bool:
        return self.block.stitch_request_ids

    async def prepare(self) -> None:
        block = self.block
        if self.voice_id not in block.VOICE_IDS.values():
            raise NarrationInputError(
                "voice",
                f"{self.voice!r} is neither a MaaS-Ele voice name ({', '.join(block.VOICE_IDS)}) nor a voice id",
            )
        if block.model_id not in block.MODELS:
            raise NarrationInputError("model", f"{block.model_id!r} is not one of {', '.join(block.MODELS)}")
        if block.output_format not in block.OUTPUT_FORMATS:
            raise NarrationInputError(
                "output_format", f"{block.output_format!r} is not one of {', '.join(block.OUTPUT_FORMATS)}"
            )
        if block.language_code and block.model_id != "eleven_turbo_v2_5":
            raise NarrationInputError("language_code", "is only accepted with model eleven_turbo_v2_5")
        if abs(self.speed - 1.0) > 1e-9:
            raise NarrationInputError("speed", "maas-ele has no speed control; leave speed empty or 1.0")

    def identity(self) -> dict[str, Any]:
        block = self.block
        return super().identity() | {
            "voice": self.voice_id,
            "model": block.model_id,
            "language": block.language_code,
            "format": block.output_format,
            "settings": block.voice_settings.model_dump(exclude_none=True) if block.voice_settings else None,
        }

    def contexts(self, chunks: list[ChunkText]) -> list[dict[str, str]]:
        """previous_text and next_text for every chunk, so prosody flows across chunk boundaries."""
        if not self.block.send_context or not self.block.context_characters:
            return super().contexts(chunks)
        size = self.block.context_characters
        contexts = []
        for i in range(len(chunks)):
            context = {}
            if i > 0:
                context["previous_text"] = chunks[i - 1].text[-size:]
            if i + 1 < len(chunks):
                context["next_text"] = chunks[i + 1].text[:size]
            contexts.append(context)
        return contexts

    def remember(self, request_id: str | None) -> None:
        """Record a chunk's request id for stitching the next one (oldest first, at most 3)."""
        if request_id:
            self.recent_request_ids.append(request_id)

    async def synthesize(self, chunk: PlannedChunk) -> SynthesizedAudio:
        block = self.block
        body: dict[str, Any] = {"text": chunk.text, "model_id": block.model_id, **chunk.context}
        if block.language_code:
            body["language_code"] = block.language_code
        if block.voice_settings:
            body["voice_settings"] = block.voice_settings.model_dump(exclude_none=True)
        if block.stitch_request_ids and self.recent_request_ids:
            body["previous_request_ids"] = list(self.recent_request_ids)
        params = {"output_format": block.output_format, "enable_logging": str(block.enable_logging).lower()}
        response = await self.send("POST", f"/tts-e/text-to-speech/{self.voice_id}", params=params, json=body)
        cost = response.headers.get("character-cost")
        request_id = response.headers.get("request-id")
        self.remember(request_id)
        return SynthesizedAudio(
            audio=response.content,
            encoding=ele_encoding(block.output_format),
            request_id=request_id,
            billed_characters=int(cost) if cost and cost.isdigit() else None,
        )
