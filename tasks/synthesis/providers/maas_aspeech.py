"""MaaS ASpeech: plain text becomes an escaped SSML document; voices are checked against the list."""

from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from blocks.maas_speech import MaasASpeech
from speech_audio.encodings import AudioEncoding, AudioKind
from tasks.errors import NarrationInputError
from tasks.models import PlannedChunk, SynthesizedAudio
from tasks.synthesis.providers.http import HttpEngine
from tasks.text.lexicon import Entry, Lexicon, to_ssml

_AZURE_FORMAT = re.compile(r"^(audio|riff|raw|ogg)-(\d+)khz-[\w-]*?-mono-(mp3|pcm|opus)$")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_voice_lists: dict[str, list[dict[str, Any]]] = {}


def azure_encoding(output_format: str) -> AudioEncoding:
    """How to decode an Azure output format name, e.g. riff-24khz-16bit-mono-pcm → WAV."""
    match = _AZURE_FORMAT.match(output_format)
    if not match:
        raise NarrationInputError(
            "output_format",
            f"{output_format!r} is not a supported Azure output format (e.g. riff-24khz-16bit-mono-pcm)",
        )
    container, khz, codec = match.groups()
    if codec == "mp3":
        return AudioEncoding(kind=AudioKind.MP3)
    if codec == "opus":
        return AudioEncoding(kind=AudioKind.OPUS)
    if container == "riff":
        return AudioEncoding(kind=AudioKind.WAV)
    return AudioEncoding(kind=AudioKind.PCM, sample_rate=int(khz) * 1000)


def build_ssml(
    text: str,
    voice: str,
    language: str,
    gender: str,
    speed: float = 1.0,
    lexicon: dict[str, dict[str, str]] | None = None,
) -> str:
    """An SSML document speaking `text` literally: markup characters are escaped, not interpreted.

    Lexicon words become `<phoneme alphabet="ipa">` (where an IPA form is given) or `<sub alias>`
    elements, built from escaped pieces of text, never by escaping a string that holds tags.
    """
    if lexicon:
        entries = Lexicon.of(Entry(written=written, **entry) for written, entry in lexicon.items())
        spoken = to_ssml(text, entries.find(text))
    else:
        spoken = escape(_NOT_XML.sub(" ", text))
    if abs(speed - 1.0) > 1e-9:
        spoken = f"<prosody rate='{round((speed - 1.0) * 100):+d}%'>{spoken}</prosody>"
    lang = quoteattr(language)
    return (
        f"<speak version='1.0' xml:lang={lang}>"
        f"<voice xml:lang={lang} xml:gender={quoteattr(gender)} name={quoteattr(voice)}>{spoken}</voice></speak>"
    )


class MaasASpeechEngine(HttpEngine):
    block_type = MaasASpeech
    block: MaasASpeech

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._voice_info: dict[str, Any] | None = None

    async def voices(self) -> list[dict[str, Any]]:
        """The provider's voice list, fetched once per endpoint and process."""
        endpoint = self.block.endpoint.rstrip("/")
        if endpoint not in _voice_lists:
            response = await self.send("GET", self.block.voices_path)
            _voice_lists[endpoint] = response.json()
        return _voice_lists[endpoint]

    async def voice_info(self) -> dict[str, Any]:
        if self._voice_info is None:
            for voice in await self.voices():
                if self.voice in (voice.get("ShortName"), voice.get("Name")):
                    self._voice_info = voice
                    break
            else:
                raise NarrationInputError(
                    "voice", f"{self.voice!r} is not in the provider's voice list ({self.block.voices_path})"
                )
        return self._voice_info

    @property
    def language(self) -> str:
        return (self.block.language or self.voice[:2]).split("-")[0].lower()

    async def prepare(self) -> None:
        azure_encoding(self.block.output_format)
        if not 0.5 <= self.speed <= 2.0:
            raise NarrationInputError("speed", f"{self.speed} is outside 0.5 to 2.0 for maas-aspeech")
        await self.voice_info()

    def identity(self) -> dict[str, Any]:
        return super().identity() | {
            "voice": self.voice,
            "language": self.block.language,
            "speed": self.speed,
            "format": self.block.output_format,
        }

    async def synthesize(self, chunk: PlannedChunk) -> SynthesizedAudio:
        info = await self.voice_info()
        language = self.block.language or info.get("Locale", "en-US")
        ssml = build_ssml(chunk.text, self.voice, language, info.get("Gender", "Female"), self.speed, chunk.lexicon)
        headers, body = await self.send_for_audio(
            "POST", "/audio/speech", json={"input": ssml, "response_format": self.block.output_format}
        )
        return SynthesizedAudio(
            audio=body.audio,
            audio_file=body.file,
            encoding=azure_encoding(self.block.output_format),
            request_id=headers.get("x-request-id") or headers.get("X-RequestId"),
        )
