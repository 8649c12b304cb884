"""The typed boundaries between steps: chunks in, chunk audio out, one manifest at the end."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from speech_audio.encodings import AudioEncoding


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ChunkText(BaseModel):
    """A piece of the document small enough for one provider request."""

    model_config = ConfigDict(frozen=True)

    index: int
    text: str
    paragraph_end: bool = Field(description="The chunk's block (paragraph, heading, list item…) ends here.")
    block: int = Field(default=0, description="Index of the document block the chunk belongs to.")
    kind: str = Field(default="paragraph", description="The block's kind: paragraph, heading, list_item, …")
    cutting: int = Field(default=2, description="The chunking version that cut it (1: greedy, 2: by content).")
    say: str | None = Field(default=None, description="What is sent instead of the text: respelled by the lexicon.")
    lexicon: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="The lexicon entries that occur in the chunk, by written form."
    )

    @property
    def spoken(self) -> str:
        """What a plain-text provider is sent: the respelled text where the lexicon applies, else the text."""
        return self.say if self.say is not None else self.text


class PlannedChunk(ChunkText):
    """A chunk with its content key: same key, same sound, never paid for twice."""

    key: str
    context: dict[str, str] = Field(
        default_factory=dict, description="Continuity context sent with the text (e.g. Ele)."
    )


class SynthesizedAudio(BaseModel):
    """What a provider answered for one request: its audio in memory, or in a local file when large."""

    audio: bytes = b""
    audio_file: str | None = Field(
        default=None,
        description="A local temporary file holding the audio instead of `audio`, for answers too large to hold "
        "in memory; whoever holds the answer stores it (which moves the file) or removes it.",
    )
    encoding: AudioEncoding
    request_id: str | None = None
    billed_characters: int | None = None
    sentence_starts: list[float] | None = Field(
        default=None, description="Seconds at which the engine says each sentence starts, where it reports them."
    )

    @model_validator(mode="after")
    def _audio_in_one_place(self) -> SynthesizedAudio:
        if self.audio and self.audio_file is not None:
            raise ValueError("audio is either in memory (audio) or in a file (audio_file), not both")
        return self


class ChunkAudio(BaseModel):
    """A chunk's audio as kept in the chunk store."""

    key: str
    path: str = Field(description="Where the audio lies, relative to the chunk store (older records: absolute).")
    encoding: AudioEncoding
    duration_seconds: float
    request_id: str | None = None
    billed_characters: int | None = None
    sentence_starts: list[float] | None = None
    cached: bool = False
    paid_requests: int | None = Field(
        default=None,
        description="Long jobs: submissions paid for in this run, repeats after ambiguous failures included.",
    )


class ManifestChunk(BaseModel):
    index: int
    text_sha256: str
    characters: int
    start_seconds: float
    duration_seconds: float
    cached: bool
    request_id: str | None
    paragraph_end: bool
    key: str
    block: int = 0
    kind: str = "paragraph"
    timing: str | None = Field(
        default=None, description="How its sentences were timed: engine, pauses, mixed, proportional."
    )
    gain_db: float | None = None
    trim_seconds: float = Field(default=0.0, description="Seconds cut off the front of the provider's audio (silence).")
    attempts: int = Field(default=0, description="Requests made for this chunk in this run (0: it was stored).")
    lexicon: list[str] = Field(default_factory=list, description="Written forms the lexicon respelled in this chunk.")
    billed_characters_this_run: int = Field(
        default=0, description="Characters billed for it in this run, retries included."
    )


# A slotted dataclass, not a model: a long book's manifest holds tens of thousands of sentences, and as
# models the 14,400 of a 20-hour book took 7 MB at the run's end, four times as much.
@dataclass(slots=True)
class ManifestSentence:
    """A sentence and when it is heard in the narration."""

    start_seconds: float
    end_seconds: float
    text: str


class ManifestChapter(BaseModel):
    title: str
    start_seconds: float
    end_seconds: float
    first_chunk: int
    audio: str | None = Field(default=None, description="The chapter's own file, when chapters are split.")
    subtitles: dict[str, str] = Field(default_factory=dict)


class ManifestLoudness(BaseModel):
    target_lufs: float
    integrated_lufs: float | None = Field(
        description="The programme's loudness, from its chunks' measured speech after gain."
    )
    true_peak_dbtp: float = Field(
        description="Highest true peak of any chunk after gain and limiting, before encoding."
    )


class Manifest(BaseModel):
    """Everything a run produced, written beside the audio as `<name>.manifest.json`."""

    name: str
    audio: str
    subtitles: dict[str, str]
    format: str
    sample_rate: int
    duration_seconds: float
    provider: str
    voice: str
    speed: float
    characters: int
    billed_characters: int | None
    chunks_synthesized: int
    chunks_cached: int
    source: str | None
    source_sha256: str
    created_at: str
    chunks: list[ManifestChunk]
    chapters: list[ManifestChapter] = Field(default_factory=list)
    loudness: ManifestLoudness | None = None
    sentences: list[ManifestSentence] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list, description="Blocks with nothing to speak ('---', '…').")
    lexicon_version: str | None = Field(default=None, description="sha256 of the lexicon's entries, if one was used.")
    source_read_at: str | None = Field(default=None, description="When the run read its source (ISO 8601).")
    settings_sha256: str | None = Field(
        default=None, description="Fingerprint of the request's settings (voice, format, pauses…)."
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Its chunks and sentences are counted, not listed: a long book's repr was megabytes, and it is made
        # even unasked. As asyncio.run (Python 3.11) exits, it looks up its SIGINT handler with
        # signal.getsignal, whose enum conversion fails and formats the handler into its error message: a
        # partial holding the main task, whose repr includes the task's result, this manifest. Twice.
        for name, value in super().__repr_args__():
            yield name, _Counted(len(value)) if name in ("chunks", "sentences") else value


class _Counted(int):
    def __repr__(self) -> str:
        return f"[…{int(self)} items…]"


class NarrationPlan(BaseModel):
    """What a run would do, before anything is paid: `narrate --dry-run`."""

    provider: str
    chunks: int
    characters: int
    chunks_stored: int
    chunks_to_synthesize: int
    characters_to_bill: int
    blocks_kept_from_older_cutting: int = Field(
        description="Blocks whose chunks stay as an older chunker cut them, because all of them are stored."
    )
    estimated_cost: float | None = Field(description="characters_to_bill x the block's price_per_million_characters.")
    skipped: list[str] = Field(default_factory=list)
