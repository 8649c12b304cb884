"""MaaS OSpeech and ASpeech: one `POST {endpoint}/audio/speech`, plain text or SSML."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from blocks.speech_provider import HttpSpeechProvider


class MaasOSpeech(HttpSpeechProvider):
    """MaaS OSpeech: OpenAI-style body on `/audio/speech`, with wav and pcm formats too.

    Example:
        Load a saved block and narrate with it (`narrate --provider <type>/<name>` does the same):
        ```python
        from blocks import MaasOSpeech

        block = MaasOSpeech.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "MaaS OSpeech"
    _block_type_slug = "maas-ospeech"
    _description = "MaaS OSpeech text-to-speech (OpenAI voices, wav and pcm output)."

    VOICES: ClassVar[tuple[str, ...]] = ("alloy", "echo", "fable", "onyx", "nova", "shimmer")

    model: str | None = Field(default=None, title="Model", description="Sent as 'model' when set.")
    voice: str = Field(default="alloy", title="Voice", description="alloy, echo, fable, onyx, nova or shimmer.")
    speed: float = Field(default=1.0, ge=0.25, le=4.0, title="Speed", description="0.25 to 4.0.")
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = Field(
        default="wav", title="Format requested", description="wav is lossless, so the narration is encoded only once."
    )
    max_characters: int = Field(
        default=4096, ge=1, title="Request limit", description="Most characters in one request."
    )


class MaasASpeech(HttpSpeechProvider):
    """MaaS ASpeech: an SSML document on `/audio/speech`, Azure voices and output format names.

    Example:
        Load a saved block and narrate with it (`narrate --provider <type>/<name>` does the same):
        ```python
        from blocks import MaasASpeech

        block = MaasASpeech.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "MaaS ASpeech"
    _block_type_slug = "maas-aspeech"
    _description = "MaaS ASpeech (Azure neural voices through SSML)."

    voice: str = Field(
        default="en-US-AvaMultilingualNeural", title="Voice", description="An Azure ShortName from the voices list."
    )
    language: str | None = Field(
        default=None, title="Language", description="xml:lang of the SSML; default: the voice's locale."
    )
    speed: float = Field(default=1.0, ge=0.5, le=2.0, title="Speed", description="Sent as an SSML prosody rate.")
    output_format: str = Field(
        default="riff-24khz-16bit-mono-pcm",
        title="Output format",
        description="An Azure output format name; riff-…-pcm is lossless.",
    )
    voices_path: str = Field(
        default="/cognitiveservices/voices/list", title="Voices list path", description="GET path of the voice list."
    )
    max_characters: int = Field(
        default=3000, ge=1, title="Request limit", description="Most characters of text in one SSML request."
    )
