"""Test helper: decode a stored audio file with PyAV and count what is really there."""

from __future__ import annotations

import fsspec

from speech_audio.codec import decode_to_array, decoded_samples
from speech_audio.encodings import AudioEncoding, AudioKind


def decoded_duration(url: str, kind: str, sample_rate: int) -> float:
    """Seconds of audio in the file at `url`, by decoding every frame."""
    with fsspec.open(url, "rb") as file:
        data = file.read()
    raw = AudioKind(kind) in {AudioKind.PCM, AudioKind.ULAW}
    encoding = AudioEncoding(kind=kind, sample_rate=sample_rate if raw else None)
    return decoded_samples(data, encoding, sample_rate) / sample_rate


def decoded_array(url: str, kind: str, sample_rate: int):
    """The file's samples, decoded to mono int16 at `sample_rate`, as a numpy array."""
    with fsspec.open(url, "rb") as file:
        data = file.read()
    raw = AudioKind(kind) in {AudioKind.PCM, AudioKind.ULAW}
    encoding = AudioEncoding(kind=kind, sample_rate=sample_rate if raw else None)
    return decode_to_array(data, encoding, sample_rate)
