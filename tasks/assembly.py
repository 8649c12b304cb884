"""Assembly: decode chunk after chunk into one PCM stream, add pauses, encode once, streaming.

At no point is more than one chunk's audio in memory: each chunk is read from the store,
decoded and resampled frame by frame into a single encoder that writes to a local temporary
file, which is then uploaded atomically. Timings come from the samples actually written.
"""

from __future__ import annotations

import os
import tempfile

import fsspec
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from speech_audio.codec import PcmEncoder, decode_pcm
from speech_audio.encodings import AudioKind
from tasks.atomic_files import put_file_atomic
from tasks.chunk_store import ChunkStore
from tasks.models import ChunkAudio


class ChunkTiming(BaseModel):
    start_seconds: float
    duration_seconds: float


class AssembledAudio(BaseModel):
    url: str
    duration_seconds: float
    sample_rate: int
    timings: list[ChunkTiming]


def encode_chunks(
    store: ChunkStore,
    chunks: list[ChunkAudio],
    pauses: list[float],
    kind: AudioKind,
    sample_rate: int,
    target: str,
) -> tuple[list[ChunkTiming], int]:
    """Encode `chunks` in order into the file `target`, `pauses[i]` seconds of silence after chunk i."""
    timings: list[ChunkTiming] = []
    with PcmEncoder(target, kind, sample_rate) as encoder:
        for chunk, pause in zip(chunks, pauses, strict=True):
            start = encoder.samples_written
            for pcm in decode_pcm(store.read_audio(chunk), chunk.encoding, sample_rate):
                encoder.write(pcm)
            timings.append(
                ChunkTiming(
                    start_seconds=start / sample_rate,
                    duration_seconds=(encoder.samples_written - start) / sample_rate,
                )
            )
            encoder.write_silence(pause)
        total = encoder.samples_written
    return timings, total


@task(name="assemble-audio", cache_policy=NO_CACHE)
def assemble_audio(
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
        timings, total = encode_chunks(store, chunks, pauses, kind, sample_rate, local)
        put_file_atomic(fs, local, path)
    finally:
        os.unlink(local)
    return AssembledAudio(
        url=fs.unstrip_protocol(path), duration_seconds=total / sample_rate, sample_rate=sample_rate, timings=timings
    )
