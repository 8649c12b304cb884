"""OpenAI text-to-speech, or any relay that speaks its `POST /v1/audio/speech` contract."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from blocks.speech_provider import HttpSpeechProvider


class OpenAISpeech(HttpSpeechProvider):
    """OpenAI-compatible speech (`/v1/audio/speech`): model, voice, format and speed.

    Example:
        Load a saved block and narrate with it (`narrate --provider <type>/<name>` does the same):
        ```python
        from blocks import OpenAISpeech

        block = OpenAISpeech.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "OpenAI Speech"
    _block_type_slug = "openai-speech"
    _description = "OpenAI's text-to-speech, or a compatible relay. Credentials: a Bearer access key."

    MODELS: ClassVar[tuple[str, ...]] = ("tts-1", "tts-1-hd")
    VOICES: ClassVar[tuple[str, ...]] = ("alloy", "echo", "fable", "onyx", "nova", "shimmer")

    endpoint: str = Field(
        default="https://api.openai.com", title="Endpoint", description="Base URL; the path /v1/audio/speech is added."
    )
    model: str = Field(
        default="tts-1", title="Model", description="tts-1 or tts-1-hd; relays accept others (see 'Accept unlisted')."
    )
    voice: str = Field(default="alloy", title="Voice", description="alloy, echo, fable, onyx, nova or shimmer.")
    speed: float = Field(default=1.0, ge=0.25, le=4.0, title="Speed", description="0.25 to 4.0.")
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = Field(
        default="flac",
        title="Format requested",
        description="What the provider sends back; flac is lossless, so the narration is encoded only once.",
    )
    accept_unlisted: bool = Field(
        default=False,
        title="Accept unlisted",
        description="Pass models and voices not in OpenAI's list through to a relay.",
    )
    instructions: str | None = Field(
        default=None,
        title="Instructions",
        description="A speaking style (tone, pace, accent) for models that take one, e.g. gpt-4o-mini-tts; empty: none sent.",
    )
    max_characters: int = Field(
        default=4096, ge=1, le=4096, title="Request limit", description="OpenAI accepts at most 4096 characters."
    )
