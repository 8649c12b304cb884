"""Encoded segments of a narration, kept beside the chunk store so a re-run re-encodes only what changed.

MP3 and ADTS AAC play back to back when independently encoded pieces are concatenated.
A narration in those formats is therefore encoded as segments of consecutive
chunks, each stored under a key hashed from its chunks' keys, its pauses and the output
encoding; after an edit only the segments holding changed chunks are encoded again (encoding
is the slow part: MP3 runs at about 70× real time here, so a 27-minute narration costs 20 s).

Segment boundaries are content-defined, so an edit does not shift the segments after it: a
segment ends at a block end whose chunk key says so (about one in CUT_EVERY), or at a block end
once it holds PARAGRAPH_CUT_CHUNKS chunks, before every chapter, or after MAX_SEGMENT_CHUNKS
whatever the text. Each boundary adds the codec's priming (MP3 1105 samples, AAC 1024) in the pause
there, which the timings account for. Encoding a segment is the output room's job
(tasks/output/assembly.py); this module plans, keys and keeps them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol

import fsspec
from pydantic import BaseModel

from speech_audio.encodings import FRAGMENT_MUXERS, AudioKind, encoder_for
from tasks.models import ChunkAudio
from tasks.store.atomic_files import put_file_atomic, write_bytes_atomic
from tasks.store.chunk_store import ChunkStore, relative_to_store
from tasks.store.whole_reads import read_whole


class ChunkPlacementLike(Protocol):
    """What segments need of a chunk's placement (tasks.output.placement.ChunkPlacement)."""

    audio: ChunkAudio
    pause_after: float
    block_end: bool
    cut_after: bool

    def treatment(self) -> list[object]: ...


SEGMENT_VERSION = 2  # 2: chunks trimmed, levelled and faded (version 1 segments are left unused)
CUT_EVERY = 4
PARAGRAPH_CUT_CHUNKS = 16
MAX_SEGMENT_CHUNKS = 64


def concatenable(kind: AudioKind) -> bool:
    return kind in FRAGMENT_MUXERS


def plan_segments(placements: list[ChunkPlacementLike]) -> list[slice]:
    """Consecutive runs of chunks, cut where the content says (see the module's docstring)."""
    return segment_bounds(
        [placement.audio.key for placement in placements],
        [placement.block_end for placement in placements],
        [placement.cut_after for placement in placements],
    )


def segment_bounds(keys: list[str], block_ends: list[bool], cuts_after: list[bool]) -> list[slice]:
    """plan_segments from what the plan already knows of each chunk (its key, block end and chapter cut),
    so segments can be told before any chunk's audio exists."""
    segments: list[slice] = []
    start = 0
    for i, (key, block_end, cut_after) in enumerate(zip(keys, block_ends, cuts_after, strict=True)):
        size = i + 1 - start
        content_cut = int(key[:8], 16) % CUT_EVERY == 0
        if (
            i == len(keys) - 1
            or cut_after
            or (block_end and (content_cut or size >= PARAGRAPH_CUT_CHUNKS))
            or size >= MAX_SEGMENT_CHUNKS
        ):
            segments.append(slice(start, i + 1))
            start = i + 1
    return segments


def segment_key(placements: list[ChunkPlacementLike], kind: AudioKind, sample_rate: int) -> str:
    """Everything that decides a segment's bytes: codec and rate, and per chunk its key, treatment and pause."""
    spec = encoder_for(kind)
    canonical = json.dumps(
        {
            "v": SEGMENT_VERSION,
            "codec": spec.codec,
            "bit_rate": spec.bit_rate,
            "kind": kind.value,
            "rate": sample_rate,
            "chunks": [placement.audio.key for placement in placements],
            "treatments": [placement.treatment() for placement in placements],
            "pause_samples": [round(placement.pause_after * sample_rate) for placement in placements],
        },
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class EncodedSegment(BaseModel):
    """A stored segment: its bytes' path, its decoded length, and where each chunk sits in it."""

    key: str
    path: str  # stored relative to the segments folder (older records: absolute); read back as a full path
    samples: int
    chunk_spans: list[tuple[int, int]]  # (start, length) in samples, from the segment's first decoded sample


class SegmentStore:
    """Segments under `<chunk store>/segments/<key[:2]>/<key>.<ext>`, each with a JSON record written last."""

    def __init__(self, store: ChunkStore, local_root: str | None = None) -> None:
        """`local_root`: a folder of the run's own instead (raw PCM pieces, as large as the narration and
        cheap to make again, are not worth keeping beside the store)."""
        self.chunks = store
        if local_root is None:
            self.fs, self.root = store.fs, f"{store.root}/segments"
        else:
            self.fs, self.root = fsspec.filesystem("file"), local_root.rstrip("/")

    def _record_path(self, key: str) -> str:
        return f"{self.root}/{key[:2]}/{key}.json"

    def get(self, key: str) -> EncodedSegment | None:
        try:
            segment = EncodedSegment.model_validate_json(read_whole(self.fs, self._record_path(key)))
        except (FileNotFoundError, ValueError):  # missing, or unreadable: encoded again (it costs no money)
            return None
        return segment.model_copy(update={"path": f"{self.root}/{relative_to_store(self.root, segment.path)}"})

    def put(
        self, key: str, local_path: str, kind: AudioKind, samples: int, chunk_spans: list[tuple[int, int]]
    ) -> EncodedSegment:
        """Store an encoded segment from a local file, then its record (which makes it visible)."""
        relative = f"{key[:2]}/{key}.{encoder_for(kind).extension}"
        put_file_atomic(self.fs, local_path, f"{self.root}/{relative}")
        segment = EncodedSegment(key=key, path=relative, samples=samples, chunk_spans=chunk_spans)
        write_bytes_atomic(self.fs, self._record_path(key), segment.model_dump_json().encode())
        return segment.model_copy(update={"path": f"{self.root}/{relative}"})
