"""Assembly: chunks (and the pauses after them) into one narration file, streaming, uploaded atomically.

MP3 and AAC, whose encoded pieces concatenate, are assembled from encoded segments kept beside
the chunk store (tasks.store.segments): only segments with new chunks are encoded, the rest are copied.
WAV and PCM need no encoder: decoded samples are written straight out. Opus and FLAC are decoded
chunk after chunk into a single encoder. Either way no more than one chunk's audio is in memory, and the timings come from the
samples actually written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import wave

import fsspec
from pydantic import BaseModel

from speech_audio.codec import PcmEncoder, decoded_samples_of_file
from speech_audio.encodings import AudioEncoding, AudioKind
from tasks.models import ChunkAudio
from tasks.output.pcm_feed import feed_chunks
from tasks.store.atomic_files import put_file_atomic
from tasks.store.chunk_store import ChunkStore
from tasks.store.segments import EncodedSegment, SegmentStore, concatenable, plan_segments, segment_key

COPY_BLOCK = 1 << 20


class ChunkTiming(BaseModel):
    start_seconds: float
    duration_seconds: float


class AssembledAudio(BaseModel):
    url: str
    duration_seconds: float
    sample_rate: int
    timings: list[ChunkTiming]


def timings_of(spans: list[tuple[int, int]], sample_rate: int, offset: int = 0) -> list[ChunkTiming]:
    return [
        ChunkTiming(start_seconds=(offset + start) / sample_rate, duration_seconds=length / sample_rate)
        for start, length in spans
    ]


def encode_chunks(
    store: ChunkStore,
    chunks: list[ChunkAudio],
    pauses: list[float],
    kind: AudioKind,
    sample_rate: int,
    target: str,
) -> tuple[list[ChunkTiming], int]:
    """Encode `chunks` in order into the file `target`, `pauses[i]` seconds of silence after chunk i."""
    with PcmEncoder(target, kind, sample_rate) as encoder:
        spans, total = feed_chunks(store, chunks, pauses, sample_rate, encoder.write)
    return timings_of(spans, sample_rate), total


FRAGMENT_PRIMING = {AudioKind.MP3: 1105, AudioKind.AAC: 1024}  # samples, measured with an onset after silence


def encode_segment(
    segments: SegmentStore,
    key: str,
    chunks: list[ChunkAudio],
    pauses: list[float],
    kind: AudioKind,
    sample_rate: int,
) -> EncodedSegment:
    """Encode the chunks (with the pause after each) as one fragment and store it."""
    handle, local = tempfile.mkstemp(prefix="segment-")
    os.close(handle)
    try:
        priming = FRAGMENT_PRIMING[kind]
        with PcmEncoder(local, kind, sample_rate, fragment=True) as encoder:
            spans, _ = feed_chunks(segments.chunks, chunks, pauses, sample_rate, encoder.write)
        spans = [(priming + start, length) for start, length in spans]
        samples = decoded_samples_of_file(local, AudioEncoding(kind=kind), sample_rate)  # priming and padding too
        return segments.put(key, local, kind, samples, spans)
    finally:
        os.unlink(local)


def concatenate_segments(
    store: ChunkStore,
    chunks: list[ChunkAudio],
    pauses: list[float],
    kind: AudioKind,
    sample_rate: int,
    target: str,
) -> tuple[list[ChunkTiming], int]:
    """Write the narration to the local file `target` from stored segments, encoding the missing ones."""
    segments_store = SegmentStore(store)
    segments: list[EncodedSegment] = []
    for part in plan_segments(chunks, pauses):
        key = segment_key(chunks[part], pauses[part], kind, sample_rate)
        segments.append(
            segments_store.get(key) or encode_segment(segments_store, key, chunks[part], pauses[part], kind, sample_rate)
        )
    total = sum(segment.samples for segment in segments)
    timings: list[ChunkTiming] = []
    offset = 0
    for segment in segments:
        timings += timings_of(segment.chunk_spans, sample_rate, offset)
        offset += segment.samples
    with open(target, "wb") as output:
        for segment in segments:
            with segments_store.fs.open(segment.path, "rb") as piece:
                shutil.copyfileobj(piece, output, COPY_BLOCK)
    return timings, total


def write_narration(
    store_url: str,
    chunks: list[ChunkAudio],
    pauses: list[float],
    kind: AudioKind,
    sample_rate: int,
    destination: str,
) -> AssembledAudio:
    """Write the narration to the fsspec URL `destination`; the old file stays until the new one is whole."""
    store = ChunkStore(store_url)
    fs, path = fsspec.core.url_to_fs(destination)
    handle, local = tempfile.mkstemp(suffix=f".{kind.value}", prefix="narration-")
    os.close(handle)
    try:
        timings, total = assembler_for(kind)(store, chunks, pauses, kind, sample_rate, local)
        put_file_atomic(fs, local, path)
    finally:
        os.unlink(local)
    return AssembledAudio(
        url=fs.unstrip_protocol(path), duration_seconds=total / sample_rate, sample_rate=sample_rate, timings=timings
    )


def write_pcm(
    store: ChunkStore,
    chunks: list[ChunkAudio],
    pauses: list[float],
    kind: AudioKind,
    sample_rate: int,
    target: str,
) -> tuple[list[ChunkTiming], int]:
    """WAV and raw PCM need no encoder: decoded samples go straight to the file (a WAV header in front)."""
    with open(target, "wb") as output:
        if kind is not AudioKind.WAV:
            spans, total = feed_chunks(store, chunks, pauses, sample_rate, output.write)
        else:
            with wave.open(output, "wb") as sink:  # closing patches the header with the real length
                sink.setparams((1, 2, sample_rate, 0, "NONE", "not compressed"))
                spans, total = feed_chunks(store, chunks, pauses, sample_rate, sink.writeframesraw)
    return timings_of(spans, sample_rate), total


def assembler_for(kind: AudioKind):
    """Raw samples for WAV and PCM; stored segments for MP3 and AAC; one encoder otherwise."""
    if kind in (AudioKind.WAV, AudioKind.PCM):
        return write_pcm
    return concatenate_segments if concatenable(kind) else encode_chunks
