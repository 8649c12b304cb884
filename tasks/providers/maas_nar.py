"""MaaS-nar: short requests answer audio at once; chunks above the short limit run as long jobs.

The long-job protocol (submit, poll, download) is in `tasks/long_jobs.py` and runs as a subflow;
this module builds the requests both share.
"""

from __future__ import annotations

from typing import Any

from blocks.maas_nar import MaasNar
from speech_audio.encodings import AudioEncoding, AudioKind
from tasks.errors import NarrationInputError
from tasks.models import PlannedChunk, SynthesizedAudio
from tasks.providers.http_engine import HttpEngine

BODY_TYPES = {
    "text": "text/plain; charset=utf-8",
    "form": "application/x-www-form-urlencoded",
    "vtt": "text/vtt",
    "srt": "application/x-subrip",
}


def speed_parameter(speed: float) -> str:
    """voice-speed: the contract's words where they fit exactly, else the number."""
    return {1.0: "normal"}.get(speed, f"{speed:g}")


class MaasNarEngine(HttpEngine):
    block_type = MaasNar
    block: MaasNar
    accepts_subtitle_files = True

    @property
    def language(self) -> str:
        return "zh" if self.voice in ("Yifei", "Xiaomo", "Yunyang") else "en"

    async def prepare(self) -> None:
        if not 0.3 <= self.speed <= 2.0:
            raise NarrationInputError("speed", f"{self.speed} is outside maas-nar's range 0.3 to 2")
        if not self.voice or not self.voice.isalnum():
            raise NarrationInputError(
                "voice", f"{self.voice!r} is not a MaaS-nar voice name (letters and digits, e.g. Yifei)"
            )

    def identity(self) -> dict[str, Any]:
        return super().identity() | {
            "voice": self.voice,
            "speed": self.speed,
            "volume": self.block.volume,
            "short_format": self.block.short_format,
            "long_format": self.block.long_format,
            "short_max": self.block.short_max_characters,
        }

    def is_long(self, chunk: PlannedChunk) -> bool:
        return len(chunk.text) > self.block.short_max_characters

    def query(self) -> dict[str, str]:
        return {"voice": self.voice, "voice-speed": speed_parameter(self.speed), "voice-volume": self.block.volume}

    def body(self, chunk: PlannedChunk) -> tuple[bytes, str]:
        """The request body and its Content-Type: subtitle sources go whole, as what they are."""
        kind = chunk.context.get("body_type", "text")
        return chunk.context.get("body", chunk.text).encode("utf-8"), BODY_TYPES[kind]

    async def synthesize(self, chunk: PlannedChunk) -> SynthesizedAudio:
        body, content_type = self.body(chunk)
        response = await self.send(
            "POST",
            f"/tts-n/text-to-speech/{self.block.short_format}",
            params=self.query(),
            content=body,
            headers={"Accept": "application/octet-stream", "Content-Type": content_type},
        )
        return SynthesizedAudio(audio=response.content, encoding=AudioEncoding(kind=AudioKind(self.block.short_format)))
