"""The offline default: espeak-ng from the `espeakng-loader` wheel, no key, no network."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from blocks.speech_provider import SpeechProvider


class LocalSpeech(SpeechProvider):
    """Speech synthesized on this machine by espeak-ng; the provider used when none is named.

    Example:
        Load a saved block and narrate with it (`narrate --provider <type>/<name>` does the same):
        ```python
        from blocks import LocalSpeech

        block = LocalSpeech.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "Local Speech"
    _block_type_slug = "local-speech"
    _description = "Offline text-to-speech with espeak-ng (no key, no network). The default provider."

    MIN_SPEED: ClassVar[float] = 0.5
    MAX_SPEED: ClassVar[float] = 2.5

    voice: str = Field(
        default="auto",
        title="Voice",
        description="An espeak-ng voice or language (en-us, en-gb, cmn, fr, de…), or 'auto' to pick by script per chunk.",
    )
    speed: float = Field(
        default=1.0, ge=MIN_SPEED, le=MAX_SPEED, title="Speed", description="1.0 is 175 words a minute."
    )
    max_characters: int = Field(
        default=2000, ge=1, title="Request limit", description="Most characters per synthesis call."
    )
    chunk_characters: int = Field(
        default=400, ge=1, title="Chunk size", description="Preferred chunk size in characters."
    )
    max_concurrency: int = Field(
        default=2,
        ge=1,
        le=64,
        title="Concurrent syntheses",
        description="espeak-ng runs one at a time; this bounds queued work.",
    )
