"""Decode any provider's audio to one PCM shape, and encode PCM once, streaming, with PyAV.

The common shape inside the project is signed 16-bit little-endian mono PCM at one rate:
chunks are decoded into it, pauses are made of it, and it is encoded exactly once.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO

import av
import numpy as np

from speech_audio.encodings import FRAGMENT_MUXERS, AudioEncoding, AudioKind, encoder_for

BYTES_PER_SAMPLE = 2


class AudioDecodeError(ValueError):
    """The bytes are not audio of the kind they were said to be."""


def _pcm_frame(pcm: bytes, sample_rate: int) -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // BYTES_PER_SAMPLE)
    frame.planes[0].update(pcm)
    frame.sample_rate = sample_rate
    return frame


def _frame_bytes(frame: av.AudioFrame) -> bytes:
    return bytes(frame.planes[0])[: frame.samples * BYTES_PER_SAMPLE]


RAW_BLOCK_SAMPLES = 1 << 16


def _decode_raw_s16(file: BinaryIO, source_rate: int, sample_rate: int) -> Iterator[bytes]:
    """Raw s16le needs no demuxer: blocks of 64 k samples, resampled only if the rate differs.

    Through FFmpeg's demuxer the same data arrives in packets of about a thousand samples, each a
    round trip through Python: about ten times slower for the provider answers that are raw PCM.
    """
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate) if source_rate != sample_rate else None
    carry = b""
    while block := file.read(RAW_BLOCK_SAMPLES * BYTES_PER_SAMPLE):
        block, carry = carry + block, b""
        if len(block) % BYTES_PER_SAMPLE:
            block, carry = block[:-1], block[-1:]
        if resampler is None:
            yield block
            continue
        for out in resampler.resample(_pcm_frame(block, source_rate)):
            yield _frame_bytes(out)
    if resampler is not None:
        for out in resampler.resample(None):
            yield _frame_bytes(out)


def decode_pcm(source: bytes | BinaryIO, encoding: AudioEncoding, sample_rate: int) -> Iterator[bytes]:
    """Yield the audio as s16le mono PCM at `sample_rate`, a frame's worth (or a raw block) at a time."""
    file = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    if encoding.kind is AudioKind.PCM and encoding.sample_rate:
        yield from _decode_raw_s16(file, encoding.sample_rate, sample_rate)
        return
    try:
        with av.open(file, mode="r", format=encoding.demuxer, options=encoding.demuxer_options) as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"no audio stream in the {encoding.kind.value} data")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    yield _frame_bytes(out)
            for out in resampler.resample(None):
                yield _frame_bytes(out)
    except av.FFmpegError as error:
        raise AudioDecodeError(f"cannot decode {encoding.kind.value} audio: {error}") from error


def decode_to_array(source: bytes | BinaryIO, encoding: AudioEncoding, sample_rate: int) -> np.ndarray:
    """All the audio as one int16 array (s16 mono at `sample_rate`).

    Gathered in a growing bytearray, not joined from a list of pieces: a chunk of several minutes
    is then held once, not twice, while it is put together.
    """
    gathered = bytearray()
    for piece in decode_pcm(source, encoding, sample_rate):
        gathered += piece
    return np.frombuffer(gathered, dtype=np.int16)


def decoded_samples(source: bytes, encoding: AudioEncoding, sample_rate: int) -> int:
    """How many samples the audio holds at `sample_rate`, by decoding all of it."""
    return sum(len(piece) for piece in decode_pcm(source, encoding, sample_rate)) // BYTES_PER_SAMPLE


def decoded_samples_of_file(path: str, encoding: AudioEncoding, sample_rate: int) -> int:
    """Like decoded_samples, for a local file, read as it is decoded."""
    with open(path, "rb") as file:
        return sum(len(piece) for piece in decode_pcm(file, encoding, sample_rate)) // BYTES_PER_SAMPLE


class PcmEncoder:
    """Encodes s16le mono PCM, fed in pieces of any size, into one file in one pass.

    Memory stays at a frame or two whatever the length: PCM goes through a resampler whose
    FIFO hands the codec exactly the frame size it needs, and packets go straight to `target`.
    """

    def __init__(
        self, target: str | BinaryIO, kind: AudioKind | str, sample_rate: int, *, fragment: bool = False
    ) -> None:
        """`fragment`: write a piece meant to be concatenated with others (see FRAGMENT_MUXERS)."""
        spec = encoder_for(kind)
        if spec.sample_rates and sample_rate not in spec.sample_rates:
            allowed = ", ".join(str(rate) for rate in spec.sample_rates)
            raise ValueError(f"{spec.codec} cannot encode at {sample_rate} Hz; use one of {allowed}")
        self.sample_rate = sample_rate
        muxer, options = FRAGMENT_MUXERS[AudioKind(kind)] if fragment else (spec.muxer, {})
        self._container = av.open(target, mode="w", format=muxer, options=options)
        self._stream = self._container.add_stream(spec.codec, rate=sample_rate, layout="mono")
        if spec.bit_rate:
            self._stream.bit_rate = spec.bit_rate
        context = self._stream.codec_context
        codec_format = context.codec.audio_formats[0].name if context.codec.audio_formats else "s16"
        self._resampler = av.AudioResampler(
            format=codec_format, layout="mono", rate=sample_rate, frame_size=context.frame_size or None
        )

    def write(self, pcm: bytes) -> None:
        """Append PCM samples (s16le mono at this encoder's rate)."""
        if not pcm:
            return
        self._encode(self._resampler.resample(_pcm_frame(pcm, self.sample_rate)))

    def _encode(self, frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        """Flush the codec and finish the container (headers, trailers)."""
        self._encode(self._resampler.resample(None))
        self._container.mux(self._stream.encode(None))
        self._container.close()

    def __enter__(self) -> PcmEncoder:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self._container.close()


def encode_pcm(pcm: bytes, kind: AudioKind | str, sample_rate: int) -> bytes:
    """Encode a short PCM buffer whole (for provider-sized pieces, never a whole book)."""
    buffer = io.BytesIO()
    with PcmEncoder(buffer, kind, sample_rate) as encoder:
        encoder.write(pcm)
    return buffer.getvalue()
