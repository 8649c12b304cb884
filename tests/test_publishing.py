"""What a listener and a viewer get: readable cues timed to the voice, chapters, even loudness, clean joins.

Every check decodes the published audio or reads the published subtitles back; sentence timing is
measured against the emulator's true sentence spans (tone speech, whose lengths no character
count predicts) for two HTTP providers, and against the pauses in the decoded audio for the local
engine.
"""

from __future__ import annotations

import asyncio
import json
import unicodedata
from pathlib import Path

import av
import numpy as np
import pysubs2
import pytest

from flows.narrate import narrate
from flows.parameters import NarrationRequest
from tasks.output.loudness import measure
from tasks.output.sentence_timing import find_pauses
from tests.audio_probe import decoded_array
from tests.provider_blocks import save_block

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "examples" / "guide.md"
MARKUP = ("#", "*", "`", "](", "http", "|", "<", "---")
TARGET = -19.0


def run(**fields):
    return asyncio.run(narrate(NarrationRequest(**fields)))


def _wide(line: str) -> bool:
    return sum(unicodedata.east_asian_width(c) in "WF" for c in line) > len(line) / 2


def assert_readable(subtitles_path: str) -> pysubs2.SSAFile:
    cues = pysubs2.load(subtitles_path)
    previous_end = 0
    for cue in cues:
        lines = cue.plaintext.split("\n")
        assert cue.end - cue.start <= 7000, cue
        assert cue.start >= previous_end, cue
        assert len(lines) <= 2, cue
        assert all(len(line) <= (16 if _wide(line) else 42) for line in lines), cue
        assert not any(mark in cue.plaintext for mark in MARKUP), cue
        previous_end = cue.end
    return cues


def chapters_of(path: str) -> list[tuple[str, float, float]]:
    with av.open(path) as container:
        return [
            (c["metadata"]["title"], float(c["start"] * c["time_base"]), float(c["end"] * c["time_base"]))
            for c in container.chapters()
        ]


@pytest.mark.parametrize("fmt", ["mp3", "m4b"])
def test_markdown_guide_has_readable_cues_chapters_and_the_target_loudness(prefect_api_url, tmp_path, fmt):
    manifest = run(source=str(GUIDE), format=fmt, output=str(tmp_path))
    audio = Path(manifest.audio.removeprefix("file://"))
    cues = assert_readable(str(audio.with_suffix(".srt")))
    assert "lamp.trim()" in " ".join(cue.plaintext for cue in cues)  # inline code is spoken as written
    titles = ["A Field Guide to the Lighthouse", "The lamp", "The signal"]
    written = chapters_of(str(audio))
    assert [title for title, _, _ in written] == titles  # in time order, as FFmpeg lists them from the file
    for chapter in manifest.chapters:
        match = next(entry for entry in written if entry[0] == chapter.title)
        assert abs(match[1] - chapter.start_seconds) < 0.05 and abs(match[2] - chapter.end_seconds) < 0.05
    samples = decoded_array(manifest.audio, fmt, 24_000)
    loudness = measure(samples, 24_000)
    assert abs(loudness.integrated_lufs - TARGET) <= 1.0, loudness
    assert loudness.true_peak_dbtp <= -1.0, loudness
    assert manifest.loudness and manifest.loudness.target_lufs == TARGET
    assert abs(len(samples) / 24_000 - manifest.duration_seconds) < 0.1


@pytest.mark.parametrize("fmt", ["wav", "flac", "opus", "aac"])
def test_every_format_is_levelled_to_the_target(prefect_api_url, tmp_path, fmt):
    text = "A quiet start. " * 3 + "\n\nThen a second paragraph, spoken at the same level as the first one."
    manifest = run(text=text, format=fmt, output=str(tmp_path), name="level")
    loudness = measure(decoded_array(manifest.audio, fmt, 24_000), 24_000)
    assert abs(loudness.integrated_lufs - TARGET) <= 1.0 and loudness.true_peak_dbtp <= -1.0, loudness


def test_two_providers_come_out_equally_loud(prefect_api_url, emulator, tmp_path):
    text = (ROOT / "examples" / "sample.md").read_text(encoding="utf-8").split("\n\n")[1]
    provider = save_block("openai-speech", emulator.url, "loud", chunk_characters=120)
    local = run(text=text, output=str(tmp_path), name="local", format="wav")
    remote = run(text=text, provider=provider, output=str(tmp_path), name="remote", format="wav")
    levels = [measure(decoded_array(m.audio, "wav", 24_000), 24_000).integrated_lufs for m in (local, remote)]
    assert all(abs(level - TARGET) <= 1.0 for level in levels), levels
    assert abs(levels[0] - levels[1]) <= 1.0, levels
    off = run(text=text, provider=provider, output=str(tmp_path), name="raw", format="wav", loudness_lufs=None)
    assert off.loudness is None and all(chunk.gain_db is None for chunk in off.chunks)


def test_joins_do_not_click(prefect_api_url, tmp_path):
    text = " ".join(f"Sentence number {i} is here, and it ends now." for i in range(12))
    manifest = run(text=text, output=str(tmp_path), name="joins", format="wav")
    samples = decoded_array(manifest.audio, "wav", 24_000).astype(np.int32)
    steps = np.abs(np.diff(samples))
    typical = np.percentile(steps[steps > 0], 99)
    window = int(0.004 * 24_000)
    for chunk in manifest.chunks[1:]:
        at = round(chunk.start_seconds * 24_000)
        assert steps[max(0, at - window) : at + window].max() <= typical, chunk.index


def test_split_chapters_writes_a_file_and_subtitles_per_chapter(prefect_api_url, tmp_path):
    manifest = run(source=str(GUIDE), output=str(tmp_path), split_chapters=True)
    assert [chapter.title for chapter in manifest.chapters][1:] == ["The lamp", "The signal"]
    total = 0.0
    for chapter in manifest.chapters:
        samples = decoded_array(chapter.audio, "mp3", 24_000)
        total += len(samples) / 24_000
        assert_readable(chapter.subtitles["srt"].removeprefix("file://"))
        assert chapters_of(chapter.audio.removeprefix("file://"))[0][0] == chapter.title
    between = (len(manifest.chapters) - 1) * 1.0  # each chapter file ends without the heading pause after it
    assert abs(total + between - manifest.duration_seconds) < 0.3


def _within_pause(end: float, pauses: list[tuple[float, float]], slack: float = 0.12) -> bool:
    return any(start - slack <= end <= stop + slack for start, stop in pauses)


SENTENCES = [
    "The keeper climbed the stairs at dusk.",
    "She trimmed the wick, wound the clockwork, and lit the lamp.",
    "In 1897 the lens was replaced.",
    "Storms came.",
    "Ships passed in the dark, guided by one long sweep and two short ones, all through the winter of that year.",
    "Dr. Ada Smith kept the log for forty-two years.",
]


@pytest.mark.parametrize("slug", ["openai-speech", "maas-ele"])
def test_cue_ends_fall_in_the_true_pauses_of_http_speech(prefect_api_url, emulator, tmp_path, slug):
    emulator.configure(speech="tone")
    try:
        provider = save_block(slug, emulator.url, f"aligned-{slug}", chunk_characters=400)
        text = "\n\n".join(" ".join(SENTENCES[i % 6 :] + SENTENCES[: i % 6]) + f" Part {i}." for i in range(10))
        manifest = run(text=text, provider=provider, output=str(tmp_path), name="aligned", format="wav")
        truth = {entry["text"]: entry for entry in emulator.timings()}
    finally:
        emulator.configure(speech="espeak")
    hits = total = 0
    for chunk in manifest.chunks:
        true = truth[next(t for t in truth if t.strip() == _text_of(manifest, chunk))]
        offset = chunk.start_seconds - chunk.trim_seconds
        pauses = [
            (offset + a[1], offset + b[0]) for a, b in zip(true["sentences"], true["sentences"][1:], strict=False)
        ]
        ends = [
            s.end_seconds
            for s in manifest.sentences
            if chunk.start_seconds <= s.end_seconds < chunk.start_seconds + chunk.duration_seconds
        ]
        for end in ends[:-1]:  # the chunk's last sentence ends where its audio ends
            total += 1
            hits += _within_pause(end, pauses)
    assert total >= 25 and hits / total >= 0.95, (hits, total)
    assert {chunk.timing for chunk in manifest.chunks} <= {"pauses", "mixed"}


def _text_of(manifest, chunk) -> str:
    return " ".join(
        s.text
        for s in manifest.sentences
        if chunk.start_seconds <= s.start_seconds < chunk.start_seconds + chunk.duration_seconds
    )


def test_local_engine_cue_ends_fall_in_the_pauses_of_its_audio(prefect_api_url, tmp_path):
    text = "\n\n".join(" ".join(SENTENCES[i:] + SENTENCES[:i]) for i in range(4))
    manifest = run(text=text, output=str(tmp_path), name="local-aligned", format="wav")
    samples = decoded_array(manifest.audio, "wav", 24_000)
    pauses = find_pauses(samples, 24_000, min_pause_seconds=0.08)
    ends = [s.end_seconds for s in manifest.sentences[:-1]]
    hits = sum(_within_pause(end, pauses) for end in ends)
    assert len(ends) >= 20 and hits / len(ends) >= 0.95, (hits, len(ends))
    assert {chunk.timing for chunk in manifest.chunks} == {"engine"}
    assert json.loads(Path(manifest.audio.removeprefix("file://")).with_suffix(".manifest.json").read_text())[
        "sentences"
    ]
