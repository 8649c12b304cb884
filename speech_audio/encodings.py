"""What an audio byte stream is, and how FFmpeg (through PyAV) reads or writes it.

Providers answer in containers (mp3, ogg/opus, ADTS aac, flac, wav, m4a) or in raw samples
(16-bit PCM, mu-law) whose rate only the request knows; `AudioEncoding` carries both, so a
stored chunk can always be decoded again without asking the provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class AudioKind(StrEnum):
    """Every kind of audio this project reads: output formats plus provider-only ones."""

    MP3 = "mp3"
    OPUS = "opus"
    AAC = "aac"
    FLAC = "flac"
    WAV = "wav"
    PCM = "pcm"
    M4A = "m4a"
    M4B = "m4b"
    ULAW = "ulaw"


RAW_KINDS = frozenset({AudioKind.PCM, AudioKind.ULAW})

_DEMUXERS: dict[AudioKind, str] = {
    AudioKind.MP3: "mp3",
    AudioKind.OPUS: "ogg",
    AudioKind.AAC: "aac",
    AudioKind.FLAC: "flac",
    AudioKind.WAV: "wav",
    AudioKind.M4A: "mov",
    AudioKind.M4B: "mov",
    AudioKind.PCM: "s16le",
    AudioKind.ULAW: "mulaw",
}


class AudioEncoding(BaseModel):
    """How to decode a byte stream: its kind, and for raw samples, their rate (mono)."""

    model_config = ConfigDict(frozen=True)

    kind: AudioKind
    sample_rate: int | None = Field(default=None, description="Samples per second; required for raw pcm and ulaw.")

    @model_validator(mode="after")
    def _raw_needs_rate(self) -> AudioEncoding:
        if self.kind in RAW_KINDS and not self.sample_rate:
            raise ValueError(f"raw audio kind {self.kind.value!r} needs a sample_rate")
        return self

    @property
    def demuxer(self) -> str:
        return _DEMUXERS[self.kind]

    @property
    def demuxer_options(self) -> dict[str, str]:
        if self.kind in RAW_KINDS:
            return {"sample_rate": str(self.sample_rate), "ch_layout": "mono"}
        return {}


class OutputFormat(StrEnum):
    """Formats a narration can be written in."""

    MP3 = "mp3"
    OPUS = "opus"
    AAC = "aac"
    FLAC = "flac"
    WAV = "wav"
    PCM = "pcm"
    M4B = "m4b"


@dataclass(frozen=True)
class EncoderSpec:
    """The FFmpeg muxer and codec that write one output format, and its file facts."""

    muxer: str
    codec: str
    extension: str
    bit_rate: int | None = None
    sample_rates: tuple[int, ...] | None = None


ENCODERS: dict[AudioKind, EncoderSpec] = {
    AudioKind.MP3: EncoderSpec("mp3", "libmp3lame", "mp3", 64_000),
    AudioKind.OPUS: EncoderSpec("ogg", "libopus", "opus", 32_000, (8000, 12000, 16000, 24000, 48000)),
    AudioKind.AAC: EncoderSpec("adts", "aac", "aac", 64_000),
    AudioKind.FLAC: EncoderSpec("flac", "flac", "flac"),
    AudioKind.WAV: EncoderSpec("wav", "pcm_s16le", "wav"),
    AudioKind.PCM: EncoderSpec("s16le", "pcm_s16le", "pcm"),
    AudioKind.M4A: EncoderSpec("ipod", "aac", "m4a", 64_000),
    AudioKind.M4B: EncoderSpec("ipod", "aac", "m4b", 64_000),  # made from AAC segments, remuxed (no encoder)
    AudioKind.ULAW: EncoderSpec("mulaw", "pcm_mulaw", "ulaw"),
}


def encoder_for(kind: AudioKind | str) -> EncoderSpec:
    """The encoder of `kind`; raises ValueError naming the kinds there are."""
    try:
        return ENCODERS[AudioKind(kind)]
    except ValueError:
        known = ", ".join(k.value for k in AudioKind)
        raise ValueError(f"unknown audio format {kind!r}; known: {known}") from None


# Encoded formats whose independently encoded pieces play back to back when their bytes are
# concatenated: the muxer and options that write such a piece (no Xing or ID3 header).
FRAGMENT_MUXERS: dict[AudioKind, tuple[str, dict[str, str]]] = {
    AudioKind.MP3: ("mp3", {"write_xing": "0", "id3v2_version": "0"}),
    AudioKind.AAC: ("adts", {}),
}
