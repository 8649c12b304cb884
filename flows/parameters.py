"""The `narrate` flow's one parameter: a model the Prefect UI shows as a form with descriptions."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from speech_audio.encodings import OutputFormat
from tasks.output.pauses import Pauses
from tasks.text.documents.model import DocumentOptions

DEFAULT_SAMPLE_RATES = {OutputFormat.OPUS: 48_000, OutputFormat.AAC: 48_000, OutputFormat.M4B: 48_000}
# Prefect refuses flow runs whose parameters serialize to 512 KiB or more; a margin for the other fields.
MAX_TEXT_PARAMETER_BYTES = 500_000


class NarrationRequest(BaseModel):
    """What to narrate, with which provider and voice, and where to put the result."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    text: Annotated[str | None, Field(title="Text", description="Text to narrate. Give this or a source URL.")] = None
    source: Annotated[
        str | None,
        Field(
            title="Source URL",
            description="fsspec URL or path of a document (.txt, .md, .html, .epub, .srt, .vtt), e.g. s3://bucket/doc.md.",
        ),
    ] = None
    input_format: Annotated[
        Literal["text", "markdown", "html", "epub", "srt", "vtt"] | None,
        Field(
            title="Input format",
            description="How to read the text or source; empty: from the source's extension (inline text: plain text).",
        ),
    ] = None
    chapter_levels: Annotated[
        int,
        Field(
            title="Chapter levels", ge=0, le=6, description="Headings of this level or above start chapters (0: none)."
        ),
    ] = 2
    read_tables: Annotated[
        bool, Field(title="Read tables", description="Speak tables row by row (by default they are skipped).")
    ] = False
    provider: Annotated[
        str,
        Field(
            title="Provider",
            description="Block as `type/name` (e.g. `maas-ele/my-block`); 'local-speech' is the offline engine.",
        ),
    ] = "local-speech"
    voice: Annotated[str | None, Field(title="Voice", description="Provider voice; empty for the block's default.")] = (
        None
    )
    format: Annotated[OutputFormat, Field(title="Format", description="Format of the narration file.")] = (
        OutputFormat.MP3
    )
    speed: Annotated[
        float | None, Field(title="Speed", ge=0.25, le=4.0, description="0.25 to 4.0; empty for the block's default.")
    ] = None
    output: Annotated[
        str, Field(title="Output URL", description="fsspec folder the audio, subtitles and manifest go to.")
    ] = "./narrations/"
    name: Annotated[
        str | None,
        Field(
            title="Name",
            description="File name stem of the outputs; default: the source's stem or `text-` and a hash of the text.",
        ),
    ] = None
    paragraph_pause_seconds: Annotated[
        float, Field(title="Paragraph pause", ge=0.0, le=10.0, description="Silence between paragraphs, seconds.")
    ] = 0.6
    sentence_pause_seconds: Annotated[
        float,
        Field(
            title="Sentence pause",
            ge=0.0,
            le=5.0,
            description="Silence where one chunk of a paragraph meets the next, seconds (each chunk's own leading and trailing silence is trimmed).",
        ),
    ] = 0.35
    heading_pause_seconds: Annotated[
        float, Field(title="Heading pause", ge=0.0, le=10.0, description="Silence before and after a heading, seconds.")
    ] = 1.0
    loudness_lufs: Annotated[
        float | None,
        Field(
            title="Loudness",
            ge=-40.0,
            le=-10.0,
            description="Integrated loudness target in LUFS (-19: podcast practice for mono speech); empty: leave levels as the provider made them.",
        ),
    ] = -19.0
    lexicon: Annotated[
        str | None,
        Field(
            title="Lexicon",
            description="fsspec URL of a pronunciation lexicon (YAML or CSV: written form -> respelling or {say, ipa}).",
        ),
    ] = None
    max_billed_characters: Annotated[
        int | None,
        Field(
            title="Budget",
            ge=1,
            description="Most characters this run may bill, retries included: a plan over it is refused before paying, and the run stops before crossing it.",
        ),
    ] = None
    dry_run: Annotated[
        bool,
        Field(
            title="Dry run",
            description="Plan only: say what would be paid for and what is already stored; pay nothing.",
        ),
    ] = False
    split_chapters: Annotated[
        bool, Field(title="Split chapters", description="Also write one audio file (with its subtitles) per chapter.")
    ] = False
    sample_rate: Annotated[
        int | None,
        Field(title="Sample rate", description="Output Hz (8000–48000); empty: 48000 for opus and aac, else 24000."),
    ] = None
    storage: Annotated[
        str | None,
        Field(
            title="Storage block",
            description="A narration-storage block (`type/name`) whose credentials open the source, output and chunk store URLs.",
        ),
    ] = None
    chunk_store: Annotated[
        str | None,
        Field(
            title="Chunk store URL",
            description="Where synthesized chunks are kept; default: `.chunks` under the output URL.",
        ),
    ] = None

    @model_validator(mode="after")
    def _one_source(self) -> NarrationRequest:
        if (self.text is None) == (self.source is None):
            raise ValueError("give exactly one of text or source")
        if self.text is not None and (size := len(self.text.encode("utf-8"))) > MAX_TEXT_PARAMETER_BYTES:
            raise ValueError(
                f"text: {size:,} bytes, over the {MAX_TEXT_PARAMETER_BYTES:,} a flow parameter may hold; "
                "save the text to a file and give it as the source"
            )
        if self.sample_rate is not None and not 8_000 <= self.sample_rate <= 48_000:
            raise ValueError(f"sample_rate: {self.sample_rate} is outside 8000 to 48000 Hz")
        return self

    @property
    def document_options(self) -> DocumentOptions:
        return DocumentOptions(chapter_levels=self.chapter_levels, read_tables=self.read_tables)

    def settings_sha256(self) -> str:
        """A fingerprint of everything but what names the document and where it goes: a folder run compares it
        with a manifest's to tell whether a narration is current."""
        settings = self.model_dump(mode="json", exclude={"text", "source", "output", "name", "dry_run"})
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()

    @property
    def pauses(self) -> Pauses:
        return Pauses(
            sentence=self.sentence_pause_seconds,
            paragraph=self.paragraph_pause_seconds,
            heading=self.heading_pause_seconds,
        )

    @property
    def output_sample_rate(self) -> int:
        return self.sample_rate or DEFAULT_SAMPLE_RATES.get(self.format, 24_000)

    @property
    def chunk_store_url(self) -> str:
        return self.chunk_store or f"{self.output.rstrip('/')}/.chunks"


# The settings a folder, watch or regenerate run passes on to each document's narration: the request's own
# fields (one definition, so the form and the checks are the same), without what names one document.
OPTION_FIELDS = (
    "input_format",
    "chapter_levels",
    "read_tables",
    "speed",
    "paragraph_pause_seconds",
    "sentence_pause_seconds",
    "heading_pause_seconds",
    "loudness_lufs",
    "split_chapters",
    "sample_rate",
    "chunk_store",
    "max_billed_characters",
    "lexicon",
)
NarrationOptions = create_model(
    "NarrationOptions",
    __config__=ConfigDict(extra="forbid"),
    __module__=__name__,
    __doc__="How every document is read and narrated (the same fields as a single narration's).",
    **{
        name: (NarrationRequest.model_fields[name].annotation, NarrationRequest.model_fields[name])
        for name in OPTION_FIELDS
    },
)


def request_for(source: str, output: str, options: BaseModel | None, **fields) -> NarrationRequest:
    """One document's narration request: the shared options plus the fields named here."""
    chosen = options.model_dump(exclude_unset=True) if options is not None else {}
    return NarrationRequest(source=source, output=output, **chosen, **fields)


def document_options_of(options: BaseModel | None) -> DocumentOptions:
    """How the shared options read documents (defaults where no options are given)."""
    if options is None:
        return DocumentOptions()
    return DocumentOptions(chapter_levels=options.chapter_levels, read_tables=options.read_tables)
