"""MaaS-Ele (ElevenLabs-compatible) `POST {endpoint}/tts-e/text-to-speech/{voice_id}`."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from blocks.speech_provider import HttpSpeechProvider


class EleVoiceSettings(BaseModel):
    stability: float | None = Field(default=None, ge=0, le=1)
    similarity_boost: float | None = Field(default=None, ge=0, le=1)
    style: float | None = Field(default=None, ge=0, le=1)
    use_speaker_boost: bool | None = None


MAX_PRONUNCIATION_DICTIONARIES = 3  # the contract's limit per request
MAX_SEED = 4_294_967_295  # the contract's seed is an unsigned 32-bit integer


class PronunciationDictionaryLocator(BaseModel):
    """One pronunciation dictionary saved at the provider, pinned to a version so its sound cannot drift."""

    pronunciation_dictionary_id: str = Field(
        min_length=1, title="Dictionary id", description="The dictionary's id at the provider."
    )
    version_id: str = Field(
        min_length=1, title="Version id", description="The dictionary version to apply (required: pins the sound)."
    )


class MaasEle(HttpSpeechProvider):
    """MaaS-Ele: ElevenLabs voices and models, continuity context, character costs.

    Example:
        Load a saved block and narrate with it (`narrate --provider <type>/<name>` does the same):
        ```python
        from blocks import MaasEle

        block = MaasEle.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "MaaS Ele"
    _block_type_slug = "maas-ele"
    _description = "MaaS-Ele (ElevenLabs-compatible) text-to-speech."

    VOICE_IDS: ClassVar[dict[str, str]] = {
        "Sarah": "EXAVITQu4vr4xnSDxMaL", "Laura": "FGY2WhTYpPnrIDTdsKH5", "Charlie": "IKne3meq5aSn9XLyUdCD",
        "George": "JBFqnCBsd6RMkjVDRZzb", "Callum": "N2lVS1w4EtoT3dr4eOWO", "Liam": "TX3LPaxmHKxFdv7VOQHJ",
        "Charlotte": "XB0fDUnXU5powFXDhCwa", "Alice": "Xb7hH8MSUJpSbSDYk0k2", "Matilda": "XrExE9yKIg1WjnnlVkGX",
        "Will": "bIHbv24MWmeRgasZH58o", "Jessica": "cgSgspJ2msm6clMCkdW9", "Eric": "cjVigY5qzO86Huf0OWal",
        "Chris": "iP95p4xoKVk53GoZ742B", "Brian": "nPczCjzI2devNBz1zQrb", "Daniel": "onwK4e9ZLuTAKqWW03F9",
        "Lily": "pFZP5JQG7iQjIQuC4Bku", "Bill": "pqHfZKP75CvOlQylNhV4",
    }  # fmt: skip
    MODELS: ClassVar[tuple[str, ...]] = (
        "eleven_monolingual_v1", "eleven_multilingual_v2", "eleven_turbo_v2_5", "eleven_turbo_v2", "eleven_multilingual_v1",
    )  # fmt: skip
    OUTPUT_FORMATS: ClassVar[tuple[str, ...]] = (
        "mp3_22050_32", "mp3_44100_32", "mp3_44100_64", "mp3_44100_96", "mp3_44100_128", "mp3_44100_192",
        "pcm_16000", "pcm_22050", "pcm_24000", "pcm_44100", "ulaw_8000",
    )  # fmt: skip

    voice: str = Field(default="George", title="Voice", description="A voice name (George, Sarah…) or a voice id.")
    model_id: str = Field(
        default="eleven_multilingual_v2",
        title="Model",
        description="eleven_multilingual_v2, eleven_turbo_v2_5, eleven_turbo_v2, eleven_monolingual_v1 or eleven_multilingual_v1.",
    )
    language_code: str | None = Field(
        default=None, title="Language", description="ISO 639-1; only with eleven_turbo_v2_5."
    )
    output_format: str = Field(
        default="pcm_24000", title="Output format", description="pcm_* is raw and lossless: one encode at the end."
    )
    voice_settings: EleVoiceSettings | None = Field(
        default=None,
        title="Voice settings",
        description="stability, similarity_boost, style, use_speaker_boost; empty: the voice's own.",
    )
    pronunciation_dictionary_locators: list[PronunciationDictionaryLocator] = Field(
        default_factory=list,
        max_length=MAX_PRONUNCIATION_DICTIONARIES,
        title="Pronunciation dictionaries",
        description="At most 3 dictionaries saved at the provider (id and version each), applied in this order.",
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SEED,
        title="Seed",
        description="0 to 4294967295; empty: each chunk gets a seed derived from its content, so a chunk synthesized again sounds as alike as the provider allows.",
    )
    enable_logging: bool = Field(default=True, title="Logging", description="false is the provider's privacy mode.")
    send_context: bool = Field(
        default=True, title="Continuity context", description="Send previous_text and next_text with every chunk."
    )
    stitch_request_ids: bool = Field(
        default=False,
        title="Stitch request ids",
        description="Send up to 3 previous request ids (chunks then go one at a time).",
    )
    max_characters: int = Field(
        default=5000, ge=1, title="Request limit", description="Most characters in one request."
    )
    context_characters: Literal[0, 200, 500, 1000] = Field(
        default=500, title="Context length", description="Characters of previous/next text sent as context."
    )
