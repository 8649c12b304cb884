"""The one small interface every provider's protocol implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property
from typing import Any, ClassVar

from blocks.speech_provider import SpeechProvider
from speech_audio.encodings import AudioKind
from tasks.models import ChunkText, PlannedChunk, SynthesizedAudio


class SpeechEngine(ABC):
    """Turns one chunk into audio for one provider block.

    Subclasses say how to build a request, read the answer and classify errors; retries,
    concurrency, checks and storage are shared and live elsewhere.
    """

    block_type: ClassVar[type[SpeechProvider]]

    def __init__(self, block: SpeechProvider, voice: str | None, speed: float | None) -> None:
        self.block = block
        self.voice = voice or self.default_voice()
        self.speed = speed if speed is not None else self.default_speed()

    def default_voice(self) -> str:
        return getattr(self.block, "voice", "")

    def default_speed(self) -> float:
        return float(getattr(self.block, "speed", 1.0))

    @property
    def language(self) -> str:
        """ISO 639-1 code that guides sentence segmentation."""
        return "en"

    @cached_property
    def slug(self) -> str:
        """The block type's slug, e.g. `maas-ele` (computed once: Prefect slugifies it on every call)."""
        return self.block.get_block_type_slug()

    @cached_property
    def label(self) -> str:
        """The provider as named in errors and manifests: block type, and name if saved."""
        name = getattr(self.block, "_block_document_name", None)
        return f"{self.slug}/{name}" if name and not getattr(self.block, "_is_anonymous", False) else self.slug

    @property
    def sequential(self) -> bool:
        """True where each request needs the one before it (e.g. request-id stitching)."""
        return False

    def remember(self, request_id: str | None) -> None:  # noqa: B027 - optional hook
        """See a chunk's request id in document order (used by stitching providers)."""

    #: Where a large answer is written as it arrives (answer_body says why); None: the system's temporary
    #: folder. Synthesis sets the chunk store's incoming folder, where storing the answer is a rename.
    answer_folder: str | None = None

    #: providers that take an SRT or WebVTT file whole as a request body
    accepts_subtitle_files: ClassVar[bool] = False

    def is_long(self, chunk: PlannedChunk) -> bool:
        """True where the chunk goes as a long job (submit, poll, download) instead of one request."""
        return False

    @property
    def max_concurrency(self) -> int:
        return self.block.max_concurrency

    @abstractmethod
    async def prepare(self) -> None:
        """Check voice, speed, model and format against the contract before paying anything."""

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything besides text that shapes the sound: it goes into every chunk's key."""

    def contexts(self, chunks: list[ChunkText]) -> list[dict[str, str]]:
        """Per-chunk continuity context sent with the text (none unless the provider uses it)."""
        return [{} for _ in chunks]

    @abstractmethod
    async def synthesize(self, chunk: PlannedChunk) -> SynthesizedAudio:
        """One request for one chunk; raises ProviderError classified as retryable or not."""

    def intermediate_kind(self) -> AudioKind:
        """The kind of audio requested from the provider (lossless where it offers one)."""
        return AudioKind.WAV

    async def aclose(self) -> None:  # noqa: B027 - optional hook; engines without connections keep it
        """Release connections."""
