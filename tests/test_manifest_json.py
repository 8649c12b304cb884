"""The manifest written a list item at a time is, byte for byte, the JSON pydantic makes of it whole."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.models import Manifest, ManifestChapter, ManifestChunk, ManifestLoudness, ManifestSentence
from tasks.output.manifest_json import write_manifest_json

# Text that would break a naive splice: quotes, backslashes, newlines, a field's name, non-ASCII, JSON itself.
AWKWARD = ['"chunks": []', '\n  "sentences": []', "back\\slash", "naïve — 中文 🎧", "", "]\n}"]


def chunk(index: int, text: str = "x") -> ManifestChunk:
    return ManifestChunk(
        index=index,
        text_sha256="0" * 64,
        characters=len(text),
        start_seconds=index * 1.5,
        duration_seconds=1.25,
        cached=index % 2 == 0,
        request_id=text or None,
        paragraph_end=True,
        key="k" * 64,
        lexicon=[text] if text else [],
        gain_db=None if index % 3 else -3.5,
    )


def manifest(chunks: list[ManifestChunk], sentences: list[ManifestSentence], **fields) -> Manifest:
    return Manifest(
        name="book",
        audio="file:///out/book.mp3",
        subtitles={"srt": "file:///out/book.srt", "vtt": "file:///out/book.vtt"},
        format="mp3",
        sample_rate=24_000,
        duration_seconds=12.5,
        provider="maas-ele/b",
        voice="George",
        speed=1.0,
        characters=100,
        billed_characters=None,
        chunks_synthesized=1,
        chunks_cached=0,
        source=None,
        source_sha256="1" * 64,
        created_at="2026-11-24T00:00:00+00:00",
        chunks=chunks,
        sentences=sentences,
        **fields,
    )


def streamed(value: Manifest) -> bytes:
    stream = io.BytesIO()
    write_manifest_json(value, stream)
    return stream.getvalue()


def whole(value: Manifest) -> bytes:
    return Manifest.__pydantic_serializer__.to_json(value, indent=2)


def test_a_full_manifest_is_written_as_pydantic_writes_it():
    value = manifest(
        [chunk(i, text) for i, text in enumerate(AWKWARD)],
        [ManifestSentence(i * 0.5, i * 0.5 + 0.4, text) for i, text in enumerate(AWKWARD)],
        chapters=[ManifestChapter(title='"chunks": []', start_seconds=0, end_seconds=3, first_chunk=0)],
        loudness=ManifestLoudness(target_lufs=-19, integrated_lufs=-19.2, true_peak_dbtp=-1.5),
        skipped=["---", '\n  "chunks": []'],
    )
    assert streamed(value) == whole(value)
    assert Manifest.model_validate_json(streamed(value)) == value


def test_empty_lists_are_written_as_pydantic_writes_them():
    for value in (manifest([], []), manifest([chunk(0)], []), manifest([], [ManifestSentence(0, 1, "One.")])):
        assert streamed(value) == whole(value)


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.text(max_size=12), max_size=6),
    sentences=st.lists(st.tuples(st.floats(0, 1e5), st.floats(0, 1e5), st.text(max_size=20)), max_size=6),
)
def test_any_manifest_is_written_as_pydantic_writes_it(texts, sentences):
    value = manifest(
        [chunk(i, text) for i, text in enumerate(texts)],
        [ManifestSentence(start, end, text) for start, end, text in sentences],
        skipped=texts,
    )
    assert streamed(value) == whole(value)
    json.loads(streamed(value))
