"""Assembly: placed chunks (and the pauses after them) into one narration file, streaming, uploaded atomically.

MP3 and AAC, whose encoded pieces concatenate, are assembled from encoded segments kept beside
the chunk store (tasks.store.segments): only segments with new chunks are encoded, the rest are
copied. An M4B audiobook is AAC segments remuxed into MP4 with chapter marks, never encoded
again. WAV and PCM need no encoder: samples are written straight out. Opus and FLAC are fed chunk
after chunk into a single encoder. Either way no more than one chunk's audio is in memory, and
the timings come from the samples actually written. Chapters are written into the file where
the format carries them (ID3 chapter frames around the joined MP3, MP4 chapters in M4B).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import wave
from collections.abc import Callable
from contextlib import AbstractContextManager

import fsspec
from pydantic import BaseModel

from speech_audio.codec import PcmEncoder, decoded_samples_of_file
from speech_audio.encodings import AudioEncoding, AudioKind
from tasks.output.chapters import ChapterMark, remux_to_m4b, write_mp3_chapters
from tasks.output.pcm_feed import feed_chunks
from tasks.output.placement import ChunkPlacement
from tasks.store.atomic_files import make_file_atomic
from tasks.store.chunk_store import ChunkStore
from tasks.store.segments import EncodedSegment, SegmentStore, concatenable, plan_segments, segment_key

COPY_BLOCK = 1 << 20
FRAGMENT_PRIMING = {AudioKind.MP3: 1105, AudioKind.AAC: 1024}  # samples, measured with an onset after silence


class ChunkTiming(BaseModel):
    start_seconds: float
    duration_seconds: float


class AssembledAudio(BaseModel):
    url: str
    duration_seconds: float
    sample_rate: int
    timings: list[ChunkTiming]
    chapters: list[tuple[str, float, float]] = []  # title, start and end seconds, as written into the file


Assembler = Callable[[ChunkStore, list[ChunkPlacement], AudioKind, int, str], tuple[list[ChunkTiming], int]]


def timings_of(spans: list[tuple[int, int]], sample_rate: int, offset: int = 0) -> list[ChunkTiming]:
    return [
        ChunkTiming(start_seconds=(offset + start) / sample_rate, duration_seconds=length / sample_rate)
        for start, length in spans
    ]


def encode_chunks(
    store: ChunkStore, placements: list[ChunkPlacement], kind: AudioKind, sample_rate: int, target: str
) -> tuple[list[ChunkTiming], int]:
    """Encode the placed chunks in order into the file `target`."""
    with PcmEncoder(target, kind, sample_rate) as encoder:
        spans, total = feed_chunks(store, placements, sample_rate, encoder.write)
    return timings_of(spans, sample_rate), total


def segment_kind(kind: AudioKind) -> AudioKind | None:
    """What a narration of `kind` is joined from: MP3 or AAC fragments (an M4B audiobook is AAC remuxed), raw
    PCM pieces for WAV and PCM, or nothing (None) where one encoder must see the whole (Opus, FLAC)."""
    if kind in (AudioKind.WAV, AudioKind.PCM):
        return AudioKind.PCM
    if kind is AudioKind.M4B:
        return AudioKind.AAC
    return kind if concatenable(kind) else None


def encode_segment(
    segments: SegmentStore,
    key: str,
    placements: list[ChunkPlacement],
    kind: AudioKind,
    sample_rate: int,
    turn: AbstractContextManager[object] | None = None,
) -> EncodedSegment:
    """Encode the placed chunks (with the pause after each) as one fragment, or one raw PCM piece, and store it.

    `turn` is held while each chunk is decoded (see feed_chunks).
    """
    handle, local = tempfile.mkstemp(prefix="segment-")
    os.close(handle)
    try:
        if kind is AudioKind.PCM:
            with open(local, "wb") as piece:
                spans, samples = feed_chunks(segments.chunks, placements, sample_rate, piece.write, turn)
            return segments.put(key, local, kind, samples, spans)
        priming = FRAGMENT_PRIMING[kind]
        with PcmEncoder(local, kind, sample_rate, fragment=True) as encoder:
            spans, _ = feed_chunks(segments.chunks, placements, sample_rate, encoder.write, turn)
        spans = [(priming + start, length) for start, length in spans]
        samples = decoded_samples_of_file(local, AudioEncoding(kind=kind), sample_rate)  # priming and padding too
        return segments.put(key, local, kind, samples, spans)
    finally:
        os.unlink(local)


def concatenate_segments(
    store: ChunkStore, placements: list[ChunkPlacement], kind: AudioKind, sample_rate: int, target: str
) -> tuple[list[ChunkTiming], int]:
    """Write the narration to the local file `target` from stored segments, encoding the missing ones."""
    segments_store = SegmentStore(store)
    segments: list[EncodedSegment] = []
    for part in plan_segments(placements):
        key = segment_key(placements[part], kind, sample_rate)
        segments.append(
            segments_store.get(key) or encode_segment(segments_store, key, placements[part], kind, sample_rate)
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


def write_pcm(
    store: ChunkStore,
    placements: list[ChunkPlacement],
    kind: AudioKind,
    sample_rate: int,
    target: str,
    pieces: SegmentStore | None = None,
) -> tuple[list[ChunkTiming], int]:
    """WAV and raw PCM need no encoder: samples go straight to the file (a WAV header in front).

    `pieces` holds raw PCM pieces made ahead (tasks.output.assembly_ahead): those found are copied, the
    rest fed from the chunks.
    """
    with open(target, "wb") as output:
        if kind is not AudioKind.WAV:
            spans, total = _pcm_from_pieces(store, placements, sample_rate, output.write, pieces)
        else:
            with wave.open(output, "wb") as sink:  # closing patches the header with the real length
                sink.setparams((1, 2, sample_rate, 0, "NONE", "not compressed"))
                spans, total = _pcm_from_pieces(store, placements, sample_rate, sink.writeframesraw, pieces)
    return timings_of(spans, sample_rate), total


def _pcm_from_pieces(
    store: ChunkStore,
    placements: list[ChunkPlacement],
    sample_rate: int,
    write: Callable[[bytes], None],
    pieces: SegmentStore | None,
) -> tuple[list[tuple[int, int]], int]:
    """The placed chunks' samples, piece by piece where a piece was made ahead; (start, length) spans and total."""
    if pieces is None:
        return feed_chunks(store, placements, sample_rate, write)
    spans: list[tuple[int, int]] = []
    total = 0
    for part in plan_segments(placements):
        piece = pieces.get(segment_key(placements[part], AudioKind.PCM, sample_rate))
        if piece is None:
            part_spans, length = feed_chunks(store, placements[part], sample_rate, write)
        else:
            with pieces.fs.open(piece.path, "rb") as source:
                while block := source.read(COPY_BLOCK):
                    write(block)
            part_spans, length = piece.chunk_spans, piece.samples
        spans += [(total + start, size) for start, size in part_spans]
        total += length
    return spans, total


def assembler_for(kind: AudioKind, pieces: SegmentStore | None = None) -> Assembler:
    """Raw samples for WAV and PCM (from pieces made ahead, where given); stored segments for MP3 and AAC;
    one encoder otherwise."""
    if kind in (AudioKind.WAV, AudioKind.PCM):
        return functools.partial(write_pcm, pieces=pieces)
    return concatenate_segments if concatenable(kind) else encode_chunks


def chapter_marks(
    chapters: list[tuple[str, int]], timings: list[ChunkTiming], total_seconds: float
) -> list[ChapterMark]:
    """(title, first chunk) pairs as marks in seconds: each chapter runs to the next one's start, the last to the end."""
    starts = [(title, 0.0 if first == 0 else timings[first].start_seconds) for title, first in chapters]
    ends = [start for _, start in starts[1:]] + [total_seconds] if starts else []
    return [ChapterMark(title, start, end) for (title, start), end in zip(starts, ends, strict=True)]


def write_narration(
    store_url: str,
    placements: list[ChunkPlacement],
    kind: AudioKind,
    sample_rate: int,
    destination: str,
    chapters: list[tuple[str, int]] | None = None,
    title: str | None = None,
    pieces_folder: str | None = None,
) -> AssembledAudio:
    """Write the narration to the fsspec URL `destination`; the old file stays until the new one is whole.

    `chapters` are (title, first chunk index) pairs, written into the file where its format carries them.
    `pieces_folder` is where raw PCM pieces of a WAV or PCM narration were made ahead, if they were.
    """
    store = ChunkStore(store_url)
    pieces = SegmentStore(store, pieces_folder) if pieces_folder else None
    fs, path = fsspec.core.url_to_fs(destination)
    audiobook = kind is AudioKind.M4B
    assembled_kind = AudioKind.AAC if audiobook else kind
    written: list[tuple[list[ChunkTiming], int, list[ChapterMark]]] = []

    def make(local: str) -> None:
        joined = f"{local}.aac" if audiobook else local
        try:
            timings, total = assembler_for(assembled_kind, pieces)(
                store, placements, assembled_kind, sample_rate, joined
            )
            marks = chapter_marks(chapters or [], timings, total / sample_rate)
            if audiobook:
                remux_to_m4b(joined, local, marks, title=title)
            elif kind is AudioKind.MP3 and marks:
                write_mp3_chapters(local, marks, title=title)
        finally:
            if audiobook and os.path.exists(joined):
                os.unlink(joined)
        written.append((timings, total, marks))

    make_file_atomic(fs, path, make, suffix=f".{kind.value}")
    timings, total, marks = written[0]
    return AssembledAudio(
        url=fs.unstrip_protocol(path),
        duration_seconds=total / sample_rate,
        sample_rate=sample_rate,
        timings=timings,
        chapters=[(mark.title, mark.start_seconds, mark.end_seconds) for mark in marks],
    )
