"""The narrate flow end to end on the local engine: real Prefect, real espeak-ng, real files, decoded."""

from __future__ import annotations

import asyncio
import json
import re

import fsspec
import pytest

from flows.narrate import narrate
from flows.parameters import NarrationRequest
from tasks.errors import NarrationInputError
from tests.audio_probe import decoded_duration

ENGLISH = (
    "The first paragraph has two sentences. It is short.\n\n"
    "The second paragraph, which is a little longer, follows after a pause! Does it? It does."
)
TOLERANCE = 0.050


def run(request: NarrationRequest):
    return asyncio.run(narrate(request))


def _srt_end_seconds(srt: str) -> float:
    hours, minutes, seconds, millis = re.findall(r"--> (\d+):(\d+):(\d+),(\d+)", srt)[-1]
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_every_format_decodes_to_the_manifest_duration(prefect_api_url, tmp_path, fmt):
    manifest = run(NarrationRequest(text=ENGLISH, format=fmt, output=str(tmp_path), name=f"doc-{fmt}"))
    measured = decoded_duration(manifest.audio, fmt, manifest.sample_rate)
    assert abs(measured - manifest.duration_seconds) <= TOLERANCE
    assert manifest.duration_seconds > 3.0
    srt = (tmp_path / f"doc-{fmt}.srt").read_text()
    vtt = (tmp_path / f"doc-{fmt}.vtt").read_text()
    assert abs(_srt_end_seconds(srt) - measured) <= TOLERANCE
    assert vtt.startswith("WEBVTT")
    last = manifest.chunks[-1]
    # Segmented formats (mp3, aac) end with the codec's priming and padding: under 0.1 s of silence.
    assert -1e-6 < manifest.duration_seconds - (last.start_seconds + last.duration_seconds) < 0.1


def test_manifest_records_every_chunk_and_pauses_between_paragraphs(prefect_api_url, tmp_path):
    manifest = run(NarrationRequest(text=ENGLISH, output=str(tmp_path), name="doc", paragraph_pause_seconds=1.5))
    stored = json.loads((tmp_path / "doc.manifest.json").read_text())
    for field in ("audio", "format", "duration_seconds", "provider", "voice", "characters", "chunks"):
        assert field in stored
    assert stored["provider"] == "local-speech" and stored["format"] == "mp3"
    assert stored["characters"] == sum(c["characters"] for c in stored["chunks"])
    for chunk in stored["chunks"]:
        assert set(chunk) >= {
            "index",
            "text_sha256",
            "characters",
            "start_seconds",
            "duration_seconds",
            "cached",
            "request_id",
        }
    first_paragraph_end = next(c for c in manifest.chunks if c.paragraph_end)
    following = manifest.chunks[first_paragraph_end.index + 1]
    gap = following.start_seconds - (first_paragraph_end.start_seconds + first_paragraph_end.duration_seconds)
    assert abs(gap - 1.5) < 1e-3


def test_a_second_run_takes_every_chunk_from_the_store(prefect_api_url, tmp_path):
    first = run(NarrationRequest(text=ENGLISH, output=str(tmp_path), name="doc"))
    second = run(NarrationRequest(text=ENGLISH, output=str(tmp_path), name="doc"))
    assert first.chunks_synthesized == len(first.chunks) and first.chunks_cached == 0
    assert second.chunks_synthesized == 0 and all(c.cached for c in second.chunks)
    assert abs(first.duration_seconds - second.duration_seconds) < 1e-9


def test_flow_writes_through_memory_filesystem(prefect_api_url):
    manifest = run(NarrationRequest(text="你好，世界。今天天气很好。", output="memory://narrations/zh", name="hello"))
    fs = fsspec.filesystem("memory")
    assert fs.exists("/narrations/zh/hello.mp3") and fs.exists("/narrations/zh/hello.manifest.json")
    assert manifest.audio.startswith("memory://") and manifest.audio.endswith("/narrations/zh/hello.mp3")
    assert abs(decoded_duration(manifest.audio, "mp3", manifest.sample_rate) - manifest.duration_seconds) <= TOLERANCE
    assert manifest.voice == "auto" and manifest.duration_seconds > 1.5


def test_source_document_is_read_through_fsspec(prefect_api_url, tmp_path):
    source = tmp_path / "chapter one.md"
    source.write_text(ENGLISH, encoding="utf-8")
    manifest = run(NarrationRequest(source=str(source), output=str(tmp_path / "out")))
    assert manifest.name == "chapter-one"
    assert (tmp_path / "out" / "chapter-one.mp3").stat().st_size > 1000


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"text": "   \n\n  "}, "text"),
        ({"text": "Hello.", "voice": "no-such-voice"}, "voice"),
        ({"text": "Hello.", "speed": 3.5}, "speed"),
        ({"text": "Hello.", "provider": "maas-ele"}, "provider"),
        ({"source": "/no/such/file.txt"}, "source"),
    ],
)
def test_bad_input_fails_the_flow_before_synthesis(prefect_api_url, tmp_path, request_fields, field):
    with pytest.raises(NarrationInputError) as error:
        run(NarrationRequest(output=str(tmp_path), **request_fields))
    assert error.value.field == field
    assert not (tmp_path / ".chunks").exists() or not any((tmp_path / ".chunks").rglob("*.json"))
