"""What is measured from a chunk's audio once and kept beside it: where its speech is, how loud, and
where each of its sentences falls.

A chunk record is write-once, so the analysis is a sidecar keyed by the chunk (`<key>.analysis.json`),
written once the chunk is stored (while the run waits for the provider), or the first time an assembly
needs it: a re-run after an edit analyses only the new chunks, and chunks stored before analyses
existed are analysed once when first assembled again. The
version says which rules made it; an analysis of another version is made again.

Sentence times come from the engine where it reports them (the local engine's espeak-ng marks),
else from the pauses in the decoded audio (tasks.output.sentence_timing), falling back to each
sentence's share of characters only where no pause fits.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from pydantic import BaseModel

from speech_audio.codec import decode_to_array
from speech_audio.memory import return_large_buffers
from tasks.models import ChunkAudio
from tasks.output.joins import speech_span
from tasks.output.loudness import Loudness, apply_gain, chunk_gain_db, measure
from tasks.output.sentence_timing import find_pauses, place_sentences
from tasks.store.chunk_store import ChunkStore
from tasks.text.chunking import split_sentences

# Version 1 analyses made before true peak moved from FFmpeg's meter to numpy (speech_audio.true_peak) read
# peaks up to 0.1 dB higher; both are 4x-oversampled estimates and neither decides a limit alone (the
# limiter measures the peaks it holds, and placement keeps 1 dB of headroom), so they stay valid.
ANALYSIS_VERSION = 1
ANALYSIS_RATE = 24_000  # speech holds nothing the measures need above 12 kHz; raw audio below it is not upsampled
MAX_MAKEUP_DB = 3.0  # what making up for the limiter may add, at most
# One chunk measured at a time in the process, whoever asks (each batch of a run measures its chunks as they
# are stored, and assembly measures what is left): a long chunk's samples are large, and several of them
# decoded side by side is what made a long book's peak memory grow.
_MEASURING = threading.Lock()
RECENT_ANALYSES = 4096  # analyses kept in memory after measuring them (a few kB each)
ENGINE_PAUSE_REACH = 0.15  # an engine's sentence start this close after a pause's end places the sentence end there


class ChunkAnalysis(BaseModel):
    """Seconds from the start of the chunk's decoded audio; loudness of its speech."""

    version: int = ANALYSIS_VERSION
    duration: float
    speech_start: float
    speech_end: float
    loudness_lufs: float | None
    true_peak_dbtp: float
    sentences: list[str]
    spans: list[tuple[float, float]]
    timing: str  # engine, pauses, mixed or proportional
    gains: dict[str, float] = {}  # "target/ceiling" -> gain that reaches the target after the limiter


def _gain_key(target: float, ceiling: float) -> str:
    return f"{target:g}/{ceiling:g}"


def sentences_of(text: str, language: str) -> list[str]:
    """A chunk's sentences as cues and timings use them: sentencex's, stripped, none empty."""
    return [sentence.strip() for sentence in split_sentences(text, language) if sentence.strip()]


def _engine_spans(
    starts: list[float], samples: np.ndarray, rate: int, speech: tuple[float, float]
) -> list[tuple[float, float]]:
    """Sentence spans from the engine's sentence starts: each ends at the pause just before the next starts."""
    pauses = find_pauses(samples, rate)
    spans = []
    for i, start in enumerate(starts):
        if i + 1 == len(starts):
            end = speech[1]
        else:
            following = starts[i + 1]
            before = [
                p for p in pauses if p[1] <= following + ENGINE_PAUSE_REACH and p[1] >= following - ENGINE_PAUSE_REACH
            ]
            end = before[-1][0] if before else following
        spans.append((max(start, speech[0]) if i == 0 else start, max(end, start)))
    return spans


def analyse(
    samples: np.ndarray,
    rate: int,
    text: str,
    language: str,
    sentence_starts: list[float] | None,
    units: list[str] | None = None,
) -> ChunkAnalysis:
    """Measure one chunk's decoded samples (mono int16 at `rate`); `units` replace its sentences where given
    (a subtitle file sent whole is timed cue by cue)."""
    duration = len(samples) / rate
    span = speech_span(samples, rate)
    start, end = (span[0] / rate, span[1] / rate) if span else (0.0, duration)
    loudness = measure(samples[round(start * rate) : round(end * rate)], rate)
    sentences = units or sentences_of(text, language) or [text.strip()]
    if sentence_starts and len(sentence_starts) == len(sentences):
        spans, timing = _engine_spans(sentence_starts, samples, rate, (start, end)), "engine"
    else:
        placed = place_sentences(sentences, samples, rate)
        spans, timing = placed.spans, placed.method
    return ChunkAnalysis(
        duration=duration,
        speech_start=start,
        speech_end=end,
        loudness_lufs=loudness.integrated_lufs,
        true_peak_dbtp=loudness.true_peak_dbtp if np.isfinite(loudness.true_peak_dbtp) else -120.0,
        sentences=sentences,
        spans=[(float(a), float(b)) for a, b in spans],
        timing=timing,
    )


def measuring_turn() -> threading.Lock:
    """The process's one-chunk-at-a-time turn, for other work that decodes whole chunks while a run measures."""
    return _MEASURING


def analysis_rate(chunk: ChunkAudio) -> int:
    """The rate a chunk is measured at: ANALYSIS_RATE, or a raw answer's own rate where that is lower.

    Upsampling adds nothing to measure, and resampling 16 kHz answers to 24 kHz made up a quarter of
    the cost of measuring them (the decoder passes raw samples at their own rate straight through).
    """
    own = chunk.encoding.sample_rate
    return min(ANALYSIS_RATE, own) if own else ANALYSIS_RATE


def decoded(store: ChunkStore, chunk: ChunkAudio, rate: int) -> np.ndarray:
    """A stored chunk's samples, decoded at `rate` (large buffers are returned to the system once freed)."""
    return_large_buffers()
    return decode_to_array(store.read_audio(chunk), chunk.encoding, rate)


def limited_gain(samples: np.ndarray, rate: int, analysis: ChunkAnalysis, target: float, ceiling: float) -> float:
    """The gain that brings the chunk's speech to `target` once the limiter has held its peaks under `ceiling`.

    Limiting peaky speech lowers its loudness (by up to a dB at a -4 dBTP ceiling), so the plain
    gain is applied, the result measured, and the shortfall made up once.
    """
    gain = chunk_gain_db(Loudness(analysis.loudness_lufs, analysis.true_peak_dbtp), target)
    if analysis.loudness_lufs is None or analysis.true_peak_dbtp + gain <= ceiling:
        return gain  # nothing to limit: the plain gain reaches the target
    speech = samples[round(analysis.speech_start * rate) : round(analysis.speech_end * rate)]
    limited = measure(apply_gain(speech, gain, ceiling, sample_rate=rate), rate).integrated_lufs
    if limited is None:
        return gain
    return gain + min(MAX_MAKEUP_DB, max(0.0, target - limited))


def analysis_for(
    store: ChunkStore,
    chunk: ChunkAudio,
    text: str,
    language: str,
    loudness: tuple[float, float] | None = None,
    units: list[str] | None = None,
) -> ChunkAnalysis:
    """The chunk's analysis: read from its sidecar, or measured now and kept there.

    `loudness` is (target, ceiling): the gain for it is worked out once and kept in the sidecar too.
    """
    if (recent := recent_analysis(store, chunk, loudness, units)) is not None:
        return recent
    kept = _fits(_stored(store, chunk), units)
    if kept is not None and (loudness is None or _gain_key(*loudness) in kept.gains):
        _remember(store, chunk, kept)
        return kept  # nothing to measure: no need to wait for the chunk being measured
    with _MEASURING:
        analysis, samples = _stored_or_new(store, chunk, text, language, units)
        if loudness is not None and _gain_key(*loudness) not in analysis.gains:
            rate = analysis_rate(chunk)
            if samples is None:
                samples = decoded(store, chunk, rate)
            analysis = _with_gain(analysis, samples, rate, loudness)
            store.write_sidecar(chunk.key, "analysis", analysis.model_dump_json().encode())
        _remember(store, chunk, analysis)
    return analysis


def _with_gain(analysis: ChunkAnalysis, samples: np.ndarray, rate: int, loudness: tuple[float, float]) -> ChunkAnalysis:
    """The analysis with the gain for (target, ceiling) added to those it keeps."""
    gain = limited_gain(samples, rate, analysis, *loudness)
    return analysis.model_copy(update={"gains": analysis.gains | {_gain_key(*loudness): gain}})


def analysis_of_new_chunk(
    store: ChunkStore,
    chunk: ChunkAudio,
    text: str,
    language: str,
    loudness: tuple[float, float] | None = None,
) -> ChunkAnalysis:
    """A chunk this process has just synthesized and stored, measured with its gain and kept in one write.

    A key this run has just paid for had no record, so it has no sidecar: none is looked for. The general
    path (analysis_for) looks twice and writes the analysis and then the gain, which on an object store
    was seven requests a chunk where a read and a write do. The chunk is read back from the store rather
    than held with the answer: answers waiting in memory for their turn raised a long book's peak by 12-15 MB.
    (An object store answers that read from the few megabytes it keeps of what was just written:
    tasks/store/recent_audio.py.)
    """
    with _MEASURING:
        rate = analysis_rate(chunk)
        samples = decoded(store, chunk, rate)
        analysis = analyse(samples, rate, text, language, chunk.sentence_starts)
        if loudness is not None:
            analysis = _with_gain(analysis, samples, rate, loudness)
        del samples
        store.write_sidecar(chunk.key, "analysis", analysis.model_dump_json().encode())
        _remember(store, chunk, analysis)
    return analysis


# (store, chunk key) -> (what the chunk record said, its analysis): a record replaced under the same key (a
# store rebuilt while a warm runner lives) holds other audio, so a recent analysis counts only for its record.
_recent: OrderedDict[tuple[str, str], tuple[tuple, ChunkAnalysis]] = OrderedDict()
_recent_lock = threading.Lock()


def _record_facts(chunk: ChunkAudio) -> tuple:
    return chunk.path, chunk.request_id, chunk.duration_seconds, chunk.encoding


def recent_analysis(
    store: ChunkStore,
    chunk: ChunkAudio,
    loudness: tuple[float, float] | None = None,
    units: list[str] | None = None,
) -> ChunkAnalysis | None:
    """The chunk's analysis if this process measured or read it lately (with the gain for `loudness`, timing
    `units` where given), else None.

    A run measures each new chunk as it is stored; assembly then needs them all again, and reading them
    back from the store cost a file read and a parse each (0.13 s for 400 chunks on local disk).
    """
    with _recent_lock:
        facts, analysis = _recent.get((store.url, chunk.key), (None, None))
    if analysis is None or facts != _record_facts(chunk):
        return None
    if loudness is not None and _gain_key(*loudness) not in analysis.gains:
        return None
    return _fits(analysis, units)


def _remember(store: ChunkStore, chunk: ChunkAudio, analysis: ChunkAnalysis) -> None:
    with _recent_lock:
        _recent[(store.url, chunk.key)] = (_record_facts(chunk), analysis)
        _recent.move_to_end((store.url, chunk.key))
        while len(_recent) > RECENT_ANALYSES:
            _recent.popitem(last=False)


def gain_of(analysis: ChunkAnalysis, target: float, ceiling: float) -> float:
    """The gain worked out for (target, ceiling) by analysis_for."""
    return analysis.gains[_gain_key(target, ceiling)]


def _stored(store: ChunkStore, chunk: ChunkAudio) -> ChunkAnalysis | None:
    """The analysis kept beside the chunk, if there is one of this version that reads."""
    stored = store.read_sidecar(chunk.key, "analysis")
    if stored is None:
        return None
    try:
        analysis = ChunkAnalysis.model_validate_json(stored)
    except ValueError:
        return None  # unreadable: measured again
    return analysis if analysis.version == ANALYSIS_VERSION else None


def _fits(analysis: ChunkAnalysis | None, units: list[str] | None) -> ChunkAnalysis | None:
    """The analysis if it times `units` (a subtitle file's cues) where they are asked for, else None.

    A chunk measured by its sentences (as each new chunk is, while the run waits for the provider) is
    measured again for a subtitle file sent whole, whose own cues are what must be timed.
    """
    if analysis is None or units is None or analysis.sentences == units:
        return analysis
    return None


def _stored_or_new(
    store: ChunkStore, chunk: ChunkAudio, text: str, language: str, units: list[str] | None
) -> tuple[ChunkAnalysis, np.ndarray | None]:
    """The kept analysis (and no samples), or a new one, kept, with the samples it was measured on."""
    # The sidecar first: another process may have added a gain to it. Gains this process worked out and
    # the sidecar lacks (it was written by another process in between, or removed) are kept too.
    kept, recent = _fits(_stored(store, chunk), units), recent_analysis(store, chunk, units=units)
    if kept is not None and recent is not None:
        kept = kept.model_copy(update={"gains": recent.gains | kept.gains})
    if (kept := kept or recent) is not None:
        return kept, None
    rate = analysis_rate(chunk)
    samples = decoded(store, chunk, rate)
    analysis = analyse(samples, rate, text, language, chunk.sentence_starts, units)
    store.write_sidecar(chunk.key, "analysis", analysis.model_dump_json().encode())
    return analysis, samples
