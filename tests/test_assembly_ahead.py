"""Assembly ahead: segments made while the provider answers give the narration assembly would have made alone.

Real flows against the emulator over HTTP; the files are compared byte for byte with a narration of the
same chunks assembled after synthesis (nothing missing, so nothing is made ahead).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from flows.narrate import narrate
from flows.parameters import NarrationRequest
from tasks.errors import ProviderError
from tests.provider_blocks import save_block
from tests.store_probe import chunk_records

PARAGRAPHS = [
    f"Paragraph {i} opens with a sentence. Part {i} carries on with another one, and closes on number {i}."
    for i in range(24)
]
TEXT = "\n\n".join(PARAGRAPHS)


def run(**fields):
    return asyncio.run(narrate(NarrationRequest(**fields)))


@pytest.fixture
def own_tempdir(tmp_path, monkeypatch):
    """The process's temporary folder for this test alone, to see what a run leaves there."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


class PiecesWatch(threading.Event):
    most = 0


def watch_pieces(folder: Path) -> PiecesWatch:
    """Count, until set, the most raw PCM pieces seen at once under `folder`."""
    watch = PiecesWatch()

    def look() -> None:
        while not watch.is_set():
            try:
                watch.most = max(watch.most, len(list(folder.rglob("*.pcm"))))
            except FileNotFoundError:  # a pieces folder removed while it was walked: look again
                pass
            time.sleep(0.02)

    threading.Thread(target=look, daemon=True).start()
    return watch


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_a_narration_assembled_ahead_is_the_one_assembled_after(prefect_api_url, emulator, tmp_path, own_tempdir, fmt):
    # Synthesis takes about 7 s (48 chunks, two at a time, 0.3 s each): the first segments are ready within
    # a second or two, so even on a loaded machine they are made long before the last chunk is stored.
    emulator.set_route("openai", latency_seconds=0.3)
    provider = save_block("openai-speech", emulator.url, "ahead", chunk_characters=60, max_concurrency=2)
    store = tmp_path / "store"
    pieces_seen = watch_pieces(own_tempdir)
    ahead = run(text=TEXT, provider=provider, output=str(tmp_path / "ahead"), chunk_store=str(store), format=fmt)
    pieces_seen.set()
    assert ahead.chunks_synthesized == len(ahead.chunks) > 40
    assert not list(own_tempdir.iterdir())  # the run's own pieces are gone with it
    segments = store / "segments"
    if fmt == "mp3":
        # made while later chunks were still being synthesized: some segment is older than the last chunk record
        last_chunk = max(record.stat().st_mtime for record in chunk_records(store))
        made = [record.stat().st_mtime for record in segments.rglob("*.json")]
        assert len(made) > 2 and min(made) < last_chunk
        shutil.rmtree(segments)  # the second run must encode them itself
    else:
        assert pieces_seen.most > 2  # raw PCM pieces were made in the run's own folder while it ran
        assert not segments.exists()  # and they are not kept beside the store

    after = run(text=TEXT, provider=provider, output=str(tmp_path / "after"), chunk_store=str(store), format=fmt)
    assert after.chunks_cached == len(after.chunks)  # nothing missing: nothing was made ahead
    assert (
        Path(ahead.audio.removeprefix("file://")).read_bytes() == Path(after.audio.removeprefix("file://")).read_bytes()
    )
    assert [(c.start_seconds, c.duration_seconds) for c in ahead.chunks] == [
        (c.start_seconds, c.duration_seconds) for c in after.chunks
    ]
    assert [(s.start_seconds, s.end_seconds) for s in ahead.sentences] == [
        (s.start_seconds, s.end_seconds) for s in after.sentences
    ]


@pytest.mark.slow
def test_a_run_that_fails_midway_leaves_no_pieces_and_its_rerun_pays_only_for_the_rest(
    prefect_api_url, emulator, tmp_path, own_tempdir
):
    emulator.set_route("openai", latency_seconds=0.05)
    provider = save_block("openai-speech", emulator.url, "ahead-fails", chunk_characters=60, max_concurrency=2)
    store = tmp_path / "store"
    stop = threading.Event()

    def refuse_once_some_are_stored() -> None:
        while not stop.is_set():
            if store.exists() and len(chunk_records(store)) >= 12:
                emulator.add_fault("openai", kind="status", status=400, message="refused", times=None)
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=refuse_once_some_are_stored)
    watcher.start()
    try:
        with pytest.raises(ProviderError, match="HTTP 400"):
            run(text=TEXT, provider=provider, output=str(tmp_path / "out"), chunk_store=str(store), format="wav")
    finally:
        stop.set()
        watcher.join()
    assert not list(own_tempdir.iterdir())
    assert not list((tmp_path / "out").glob("*.wav"))
    kept = len(chunk_records(store))
    emulator.reset()
    emulator.set_route("openai", latency_seconds=0.05)
    manifest = run(text=TEXT, provider=provider, output=str(tmp_path / "out"), chunk_store=str(store), format="wav")
    assert manifest.chunks_cached == kept and emulator.served("openai") == len(manifest.chunks) - kept
    reference = run(text=TEXT, provider=provider, output=str(tmp_path / "again"), chunk_store=str(store), format="wav")
    assert reference.chunks_cached == len(reference.chunks)
    written = json.loads((tmp_path / "out" / f"{manifest.name}.manifest.json").read_text())
    assert (
        Path(written["audio"].removeprefix("file://")).read_bytes()
        == Path(reference.audio.removeprefix("file://")).read_bytes()
    )
