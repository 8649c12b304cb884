"""MaaS-Ele (ElevenLabs-compatible): continuity context, optional request stitching, character costs."""

from __future__ import annotations

from collections import deque
from typing import Any

from pydantic import BaseModel

from blocks.maas_ele import MAX_PRONUNCIATION_DICTIONARIES, MAX_SEED, MaasEle
from speech_audio.encodings import AudioEncoding, AudioKind
from tasks.errors import NarrationInputError
from tasks.models import ChunkText, PlannedChunk, SynthesizedAudio
from tasks.synthesis.providers.http import HttpEngine

MAX_STITCHED_IDS = 3
LOCATORS_FIELD = "pronunciation_dictionary_locators"
LOCATOR_KEYS = ("pronunciation_dictionary_id", "version_id")


def ele_encoding(output_format: str) -> AudioEncoding:
    """mp3_44100_128 → mp3; pcm_24000 → raw PCM at 24 kHz; ulaw_8000 → raw mu-law at 8 kHz."""
    codec, rate, *_ = output_format.split("_")
    if codec == "mp3":
        return AudioEncoding(kind=AudioKind.MP3)
    return AudioEncoding(kind=AudioKind.PCM if codec == "pcm" else AudioKind.ULAW, sample_rate=int(rate))


def derived_seed(key: str) -> int:
    """A chunk's seed where the block sets none: a function of its key (never part of it), so the same chunk
    synthesized again asks for the same sampling. 8 hex digits span exactly the contract's 0..4294967295."""
    return int(key[:8], 16)


def pronunciation_locators(locators: list[Any]) -> list[dict[str, str]]:
    """The block's dictionary locators as the contract sends them, refused where the contract would refuse them.

    The block's own validation already holds these limits; this checks again because a block's fields can be
    assigned without validation; a refusal here costs nothing, while the provider's 422 would come mid-run.
    """
    if len(locators) > MAX_PRONUNCIATION_DICTIONARIES:
        raise NarrationInputError(
            LOCATORS_FIELD, f"at most {MAX_PRONUNCIATION_DICTIONARIES} dictionaries per request; got {len(locators)}"
        )
    checked = []
    for number, locator in enumerate(locators, start=1):
        fields = locator.model_dump() if isinstance(locator, BaseModel) else locator
        if not isinstance(fields, dict):
            raise NarrationInputError(LOCATORS_FIELD, f"entry {number} is not a {{{', '.join(LOCATOR_KEYS)}}} object")
        for name in LOCATOR_KEYS:
            value = fields.get(name)
            if not isinstance(value, str) or not value.strip():
                raise NarrationInputError(LOCATORS_FIELD, f"entry {number} needs {name} as a non-empty string")
        checked.append({name: fields[name] for name in LOCATOR_KEYS})
    return checked


def _spoken(chunk: ChunkText) -> str:
    """A neighbour's text as the provider hears it (respelled by the lexicon where it applies)."""
    return chunk.say if chunk.say is not None else chunk.text


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
        seed = block.seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
            raise NarrationInputError("seed", f"{seed!r} is not an integer from 0 to {MAX_SEED}")
        pronunciation_locators(block.pronunciation_dictionary_locators)

    def identity(self) -> dict[str, Any]:
        block = self.block
        identity = super().identity() | {
            "voice": self.voice_id,
            "model": block.model_id,
            "language": block.language_code,
            "format": block.output_format,
            "settings": block.voice_settings.model_dump(exclude_none=True) if block.voice_settings else None,
        }
        # Added only when set, so blocks without them keep the keys their stored chunks were saved under.
        if block.seed is not None:
            identity["seed"] = block.seed
        if locators := pronunciation_locators(block.pronunciation_dictionary_locators):
            identity[LOCATORS_FIELD] = locators  # kept in order: where two dictionaries hold a word, order decides
        return identity

    def seed_for(self, chunk: PlannedChunk) -> int:
        """The block's seed, or one derived from the chunk's key."""
        return self.block.seed if self.block.seed is not None else derived_seed(chunk.key)

    def contexts(self, chunks: list[ChunkText]) -> list[dict[str, str]]:
        """previous_text and next_text for every chunk, so prosody flows across chunk boundaries."""
        if not self.block.send_context or not self.block.context_characters:
            return super().contexts(chunks)
        size = self.block.context_characters
        contexts = []
        for i in range(len(chunks)):
            context = {}
            if i > 0:
                context["previous_text"] = _spoken(chunks[i - 1])[-size:]
            if i + 1 < len(chunks):
                context["next_text"] = _spoken(chunks[i + 1])[:size]
            contexts.append(context)
        return contexts

    def remember(self, request_id: str | None) -> None:
        """Record a chunk's request id for stitching the next one (oldest first, at most 3)."""
        if request_id:
            self.recent_request_ids.append(request_id)

    async def synthesize(self, chunk: PlannedChunk) -> SynthesizedAudio:
        block = self.block
        body: dict[str, Any] = {
            "text": chunk.spoken,
            "model_id": block.model_id,
            "seed": self.seed_for(chunk),
            **chunk.context,
        }
        if locators := pronunciation_locators(block.pronunciation_dictionary_locators):
            body[LOCATORS_FIELD] = locators
        if block.language_code:
            body["language_code"] = block.language_code
        if block.voice_settings:
            body["voice_settings"] = block.voice_settings.model_dump(exclude_none=True)
        if block.stitch_request_ids and self.recent_request_ids:
            body["previous_request_ids"] = list(self.recent_request_ids)
        params = {"output_format": block.output_format, "enable_logging": str(block.enable_logging).lower()}
        headers, answer = await self.send_for_audio(
            "POST", f"/tts-e/text-to-speech/{self.voice_id}", params=params, json=body
        )
        cost = headers.get("character-cost")
        request_id = headers.get("request-id")
        self.remember(request_id)
        return SynthesizedAudio(
            audio=answer.audio,
            audio_file=answer.file,
            encoding=ele_encoding(block.output_format),
            request_id=request_id,
            billed_characters=int(cost) if cost and cost.isdigit() else None,
        )
