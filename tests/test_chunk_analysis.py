"""A chunk is measured once: kept beside it, kept in memory for the rest of the run, at its own rate when raw."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from speech_audio.encodings import AudioEncoding, AudioKind
from tasks.models import SynthesizedAudio
from tasks.output import chunk_analysis
from tasks.output.chunk_analysis import analysis_for, analysis_rate, recent_analysis
from tasks.store.chunk_store import ChunkStore

RATE = 16_000


def _two_sentences() -> bytes:
    """Two bursts of a harmonic tone with a pause between them, as raw 16 kHz PCM."""
    time = np.arange(int(1.2 * RATE)) / RATE
    burst = (np.sin(2 * np.pi * 180 * time) + 0.5 * np.sin(2 * np.pi * 540 * time)) * 9000
    silence = np.zeros(int(0.5 * RATE))
    return np.concatenate((silence, burst, silence, burst[: int(0.8 * RATE)], silence)).astype(np.int16).tobytes()


@pytest.fixture
def stored():
    store = ChunkStore(f"memory://analysis-{uuid.uuid4().hex}")
    answer = SynthesizedAudio(audio=_two_sentences(), encoding=AudioEncoding(kind=AudioKind.PCM, sample_rate=RATE))
    return store, store.put("k" * 64, answer, 3.5)


def test_a_raw_answer_is_measured_at_its_own_rate_when_lower(stored, monkeypatch):
    store, chunk = stored
    assert analysis_rate(chunk) == RATE
    mp3 = chunk.model_copy(update={"encoding": AudioEncoding(kind=AudioKind.MP3)})
    assert analysis_rate(mp3) == chunk_analysis.ANALYSIS_RATE
    rates = []
    decoded = chunk_analysis.decoded
    monkeypatch.setattr(chunk_analysis, "decoded", lambda *args: rates.append(args[2]) or decoded(*args))
    analysis = analysis_for(store, chunk, "First sentence here. Second one.", "en")
    assert rates == [RATE]  # decoded once, not resampled to 24 kHz
    assert analysis.duration == pytest.approx(3.5, abs=1e-3)
    assert analysis.speech_start == pytest.approx(0.5, abs=0.02)
    assert analysis.speech_end == pytest.approx(3.0, abs=0.02)
    assert analysis.timing == "pauses"
    assert analysis.spans[0][1] == pytest.approx(1.7, abs=0.05)  # the first sentence ends where its burst does


def test_an_analysis_is_kept_beside_the_chunk_and_in_memory(stored):
    store, chunk = stored
    measured = analysis_for(store, chunk, "First sentence here. Second one.", "en", (-19.0, -1.5))
    assert store.read_sidecar(chunk.key, "analysis") is not None
    store.fs.rm(store._sidecar_path(chunk.key, "analysis"))
    assert recent_analysis(store, chunk, (-19.0, -1.5)) == measured  # the run's later steps need no read
    assert recent_analysis(store, chunk, (-16.0, -1.0)) is None  # a gain it was not worked out for
    assert recent_analysis(ChunkStore(f"memory://other-{uuid.uuid4().hex}"), chunk) is None  # another store
    replaced = chunk.model_copy(update={"request_id": "another-answer", "duration_seconds": 3.4})
    assert recent_analysis(store, replaced) is None  # the same key, other audio (a rebuilt store)
    again = analysis_for(store, chunk, "First sentence here. Second one.", "en", (-16.0, -1.0))
    assert again.gains.keys() == {"-19/-1.5", "-16/-1"}
    assert again.loudness_lufs == measured.loudness_lufs


def test_memory_keeps_only_the_latest_analyses(stored, monkeypatch):
    store, chunk = stored
    monkeypatch.setattr(chunk_analysis, "RECENT_ANALYSES", 1)
    analysis_for(store, chunk, "First sentence here. Second one.", "en")
    assert recent_analysis(store, chunk) is not None
    other = store.put("m" * 64, SynthesizedAudio(audio=_two_sentences(), encoding=chunk.encoding), 3.5)
    analysis_for(store, other, "Another chunk. Two sentences.", "en")
    assert recent_analysis(store, chunk) is None
    assert recent_analysis(store, other) is not None


def test_a_subtitle_file_sent_whole_is_timed_by_its_own_cues(stored):
    store, chunk = stored
    by_sentence = analysis_for(store, chunk, "First sentence here. Second one.", "en")  # as while synthesizing
    assert by_sentence.sentences == ["First sentence here.", "Second one."]
    cues = ["First sentence", "here. Second one."]
    assert recent_analysis(store, chunk, units=cues) is None  # assembly's fast path measures it again too
    by_cue = analysis_for(store, chunk, "First sentence here. Second one.", "en", units=cues)
    assert by_cue.sentences == cues and len(by_cue.spans) == 2
    assert analysis_for(store, chunk, "First sentence here. Second one.", "en", units=cues) == by_cue
