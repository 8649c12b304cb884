"""The chunk store heals: records hold paths relative to the store, unreadable records are misses."""

from __future__ import annotations

import json
import shutil

import fsspec
import pytest

from speech_audio.codec import encode_pcm
from speech_audio.encodings import AudioEncoding, AudioKind
from tasks.models import SynthesizedAudio
from tasks.store.chunk_store import ChunkStore

KEY = "ab" + "0" * 62
AUDIO = SynthesizedAudio(
    audio=encode_pcm(bytes(2400 * 2), AudioKind.WAV, 24_000), encoding=AudioEncoding(kind=AudioKind.WAV)
)


def test_a_store_copied_elsewhere_still_hits(tmp_path):
    original = ChunkStore(str(tmp_path / "one"))
    original.put(KEY, AUDIO, 0.1)
    assert json.loads((tmp_path / "one" / "ab" / f"{KEY}.json").read_text())["path"] == f"ab/{KEY}.wav"
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    shutil.rmtree(tmp_path / "one")
    copy = ChunkStore(str(tmp_path / "two"))
    assert copy.read_audio(copy.get(KEY)) == AUDIO.audio
    assert copy.read_audio(copy.get_many([KEY])[KEY]) == AUDIO.audio


def test_records_written_with_absolute_paths_are_still_read_after_a_move(tmp_path):
    store = ChunkStore(str(tmp_path / "moved"))
    store.put(KEY, AUDIO, 0.1)
    record = tmp_path / "moved" / "ab" / f"{KEY}.json"
    old = json.loads(record.read_text()) | {"path": f"/somewhere/else/entirely/ab/{KEY}.wav"}
    record.write_text(json.dumps(old))
    assert store.read_audio(store.get(KEY)) == AUDIO.audio


@pytest.mark.parametrize("damage", [b"", b'{"key": ', b"not json at all", b'{"key": "cd00"}'])
def test_an_unreadable_or_truncated_record_is_a_miss(tmp_path, damage):
    store = ChunkStore(str(tmp_path))
    store.put(KEY, AUDIO, 0.1)
    (tmp_path / "ab" / f"{KEY}.json").write_bytes(damage)
    assert store.get(KEY) is None and store.get_many([KEY]) == {}
    store.put(KEY, AUDIO, 0.1)  # synthesized again: the record is whole once more
    assert store.get(KEY) is not None


def test_relative_records_on_an_object_like_memory_filesystem():
    store = ChunkStore("memory://stores/a")
    store.put(KEY, AUDIO, 0.1)
    fs = fsspec.filesystem("memory")
    fs.copy("/stores/a", "/stores/b", recursive=True)
    assert ChunkStore("memory://stores/b").get(KEY).path == f"ab/{KEY}.wav"
    assert ChunkStore("memory://stores/b").read_audio(ChunkStore("memory://stores/b").get(KEY)) == AUDIO.audio


def test_kept_audio_is_bounded_and_the_oldest_goes_first():
    from tasks.store import recent_audio

    recent_audio.forget_all()
    piece = b"x" * (recent_audio.MAX_BYTES // 4)
    try:
        for number in range(5):
            recent_audio.keep(f"s3://bucket/{number}.pcm", "same", piece)
        assert recent_audio.kept("s3://bucket/0.pcm", "same") is None  # dropped to stay within MAX_BYTES
        assert all(recent_audio.kept(f"s3://bucket/{number}.pcm", "same") == piece for number in range(1, 5))
        assert recent_audio.kept("s3://bucket/1.pcm", "another record") is None
        recent_audio.keep("s3://bucket/huge.pcm", "same", b"x" * (recent_audio.MAX_BYTES + 1))
        assert recent_audio.kept("s3://bucket/huge.pcm", "same") is None
        assert recent_audio.kept("s3://bucket/4.pcm", "same") == piece
    finally:
        recent_audio.forget_all()
