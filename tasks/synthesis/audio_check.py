"""Audio is checked before it is trusted: it must decode, hold sound, and last plausibly long."""

from __future__ import annotations

from array import array
from typing import BinaryIO

from speech_audio.codec import AudioDecodeError, decode_pcm
from speech_audio.encodings import AudioEncoding
from tasks.errors import AudioCheckError

CHECK_RATE = 16_000
_FASTEST_CHARACTERS_PER_SECOND = 40.0
_SLOWEST_CHARACTERS_PER_SECOND = 0.5
_SILENCE_PEAK = 64  # of 32767: below this nothing is audible
_PEAK_STRIDE = 8


def plausible_range(characters: int, speed: float) -> tuple[float, float]:
    """Shortest and longest believable speech, in seconds, for `characters` at `speed`."""
    shortest = characters / (_FASTEST_CHARACTERS_PER_SECOND * speed)
    longest = 3.0 + characters / (_SLOWEST_CHARACTERS_PER_SECOND * speed)
    return shortest, longest


def check_audio(audio: bytes | BinaryIO, encoding: AudioEncoding, text: str, speed: float) -> float:
    """Decode all of `audio` (bytes or an open file); return its duration, or raise AudioCheckError."""
    if isinstance(audio, bytes) and not audio:
        raise AudioCheckError("the provider returned no audio bytes", "empty")
    samples = 0
    peak = 0
    try:
        for pcm in decode_pcm(audio, encoding, CHECK_RATE):
            values = array("h", pcm)
            samples += len(values)
            if values and peak <= _SILENCE_PEAK:
                probe = values[
                    ::_PEAK_STRIDE
                ]  # every 8th sample (2 kHz) finds sound; max() over all of them was the top CPU cost of a long run
                peak = max(peak, max(probe), -min(probe)) if probe else peak
    except AudioDecodeError as error:
        raise AudioCheckError(str(error)) from None
    duration = samples / CHECK_RATE
    shortest, longest = plausible_range(len(text.strip()), speed)
    if samples == 0:
        raise AudioCheckError(f"the {encoding.kind.value} audio decodes to no samples", "no-samples")
    if peak <= _SILENCE_PEAK:
        raise AudioCheckError(f"the audio is silent ({duration:.2f} s without sound)", "silent")
    if not shortest <= duration <= longest:
        raise AudioCheckError(
            f"{duration:.2f} s of audio is implausible for {len(text.strip())} characters "
            f"(expected {shortest:.2f} to {longest:.0f} s)",
            "implausible-length",
        )
    return duration
