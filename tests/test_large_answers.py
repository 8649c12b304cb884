"""Long answers are received into a file, checked from it and moved into the chunk store; none is left behind.

Real HTTP to the emulator, a real local chunk store, and the audio decoded. Answers of a few seconds stay in
memory, as they always did.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import logging
import os
import stat
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fsspec
import pytest

from speech_audio.codec import decode_to_array
from speech_audio.encodings import AudioEncoding
from tasks.models import PlannedChunk, SynthesizedAudio
from tasks.store.atomic_files import move_file_atomic
from tasks.store.chunk_store import ChunkStore
from tasks.synthesis.ledger import RunLedger
from tasks.synthesis.providers import engine_for
from tasks.synthesis.providers.answer_body import SPILL_BYTES
from tasks.synthesis.synthesize import check_and_store, synthesize_one
from tests.provider_blocks import make_block

RATE = 16_000
# about 40 s of speech: over a megabyte of 16 kHz PCM, several times the size kept in memory
LONG_TEXT = " ".join(f"Sentence number {n} of a chapter read aloud, slowly and with care." for n in range(12))
SHORT_TEXT = "One short sentence."


def chunk(text: str, key: str) -> PlannedChunk:
    return PlannedChunk(index=0, text=text, paragraph_end=True, key=key)


@pytest.fixture
def answers_folder(tmp_path, monkeypatch) -> Path:
    """The temporary folder answers spill into, empty at the start (the process's own, for this test)."""
    folder = tmp_path / "temporary"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def engine(emulator):
    return engine_for(make_block("maas-ele", emulator.url, output_format="pcm_16000", max_retry_wait_seconds=0.2))


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_long_answer_arrives_in_a_file_in_the_store_and_is_renamed_into_place(engine, answers_folder, tmp_path):
    store = ChunkStore(str(tmp_path / "chunks"))
    engine.answer_folder = store.incoming_folder()
    planned = chunk(LONG_TEXT, "a" * 64)

    async def synthesize():
        try:
            return await engine.synthesize(planned)
        finally:
            await engine.aclose()

    answer = run(synthesize())
    assert answer.audio == b""
    received = Path(answer.audio_file)
    assert received.parent == tmp_path / "chunks" / ".incoming"  # on the store's filesystem, not in memory
    size, inode = received.stat().st_size, received.stat().st_ino
    assert size > 4 * SPILL_BYTES

    stored = check_and_store(store, planned, answer, 1.0)
    path = Path(store.full_path(stored.path))
    assert (path.stat().st_size, path.stat().st_ino) == (size, inode)  # the same file, renamed: not copied
    assert list(received.parent.iterdir()) == [] and list(answers_folder.iterdir()) == []
    samples = decode_to_array(path.read_bytes(), stored.encoding, RATE)
    assert abs(len(samples) / RATE - stored.duration_seconds) < 0.01
    assert stored.duration_seconds > 20
    # readable by every worker sharing the store, as files written any other way are
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_only_a_local_store_receives_answers_in_a_folder_of_its_own(tmp_path):
    assert ChunkStore("memory://chunks-elsewhere").incoming_folder() is None
    assert ChunkStore(str(tmp_path / "chunks")).incoming_folder() == str(tmp_path / "chunks" / ".incoming")


def test_a_short_answer_stays_in_memory(engine, answers_folder):
    async def synthesize():
        try:
            return await engine.synthesize(chunk(SHORT_TEXT, "b" * 64))
        finally:
            await engine.aclose()

    answer = run(synthesize())
    assert answer.audio_file is None
    assert 0 < len(answer.audio) <= SPILL_BYTES
    assert list(answers_folder.iterdir()) == []


@pytest.mark.parametrize("fault", ["truncate", "silence"])
def test_a_long_answer_cut_short_or_silent_leaves_no_file_and_the_retry_is_stored(
    engine, emulator, answers_folder, tmp_path, fault
):
    """Half the promised bytes then a closed connection, or silence: the partial or failed file is removed,
    the chunk is requested once more, and only the good answer reaches the store."""
    emulator.add_fault("ele", kind=fault)
    store = ChunkStore(str(tmp_path / "chunks"))
    planned = chunk(LONG_TEXT, "c" * 64)

    async def synthesize():
        try:
            return await synthesize_one(engine, planned, store, logging.getLogger("test"), RunLedger(max_attempts=3))
        finally:
            await engine.aclose()

    stored = run(synthesize())
    assert list(answers_folder.iterdir()) == []
    assert emulator.stats("ele")["faults"] == 1
    assert emulator.requests("ele") == 2
    samples = decode_to_array(Path(store.full_path(stored.path)).read_bytes(), stored.encoding, RATE)
    assert len(samples) / RATE == pytest.approx(stored.duration_seconds, abs=0.01) and stored.duration_seconds > 20
    assert int(abs(samples.astype("int32")).max()) > 1000  # speech, not the silence of the faulted answer
    assert store.get(planned.key) == stored.model_copy(update={"cached": True})


class _StoresWaitForAThread(ThreadPoolExecutor):
    """Worker threads that are all busy whenever an answer's check and store is handed to them: that job waits
    in the queue (its future pending) while everything else runs as usual."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.waiting: list[concurrent.futures.Future] = []

    def submit(self, fn, /, *args, **kwargs):
        if getattr(fn, "args", ())[:1] == (check_and_store,):  # asyncio.to_thread's call of it
            self.waiting.append(concurrent.futures.Future())
            return self.waiting[-1]
        return super().submit(fn, *args, **kwargs)


def test_an_answer_whose_store_is_still_queued_when_the_run_is_interrupted_leaves_no_file(engine, tmp_path):
    """The run is cancelled while the answer's check and store waits for a worker thread: that job never
    runs to store or remove the answer, so the waiting side removes its file."""
    store = ChunkStore(str(tmp_path / "chunks"))
    engine.answer_folder = store.incoming_folder()
    threads = _StoresWaitForAThread()

    async def interrupted() -> None:
        asyncio.get_running_loop().set_default_executor(threads)
        planned = chunk(LONG_TEXT, "d" * 64)
        run = asyncio.create_task(synthesize_one(engine, planned, store, logging.getLogger("test"), RunLedger(3)))
        while not threads.waiting:
            assert not run.done(), run
            await asyncio.sleep(0.01)
        assert len(list(Path(engine.answer_folder).iterdir())) == 1  # received whole, in its file
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
        assert threads.waiting[0].cancelled()  # so the job will never run
        await engine.aclose()

    asyncio.run(interrupted())
    threads.shutdown()
    assert list(Path(engine.answer_folder).iterdir()) == []
    assert store.get("d" * 64) is None


def test_a_file_moved_to_another_filesystem_is_copied_then_removed(tmp_path, monkeypatch):
    source = tmp_path / "answer.part"
    source.write_bytes(b"\x01\x02" * 1000)

    same_filesystem = os.replace

    def replace(moved, destination):  # the answer's folder is on another filesystem; the store's own renames work
        if moved == str(source):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        same_filesystem(moved, destination)

    monkeypatch.setattr(os, "replace", replace)
    fs = fsspec.filesystem("file")
    move_file_atomic(fs, str(source), str(tmp_path / "store" / "ab" / "chunk.pcm"))
    assert (tmp_path / "store" / "ab" / "chunk.pcm").read_bytes() == b"\x01\x02" * 1000
    assert not source.exists()


def test_an_answer_in_a_file_is_uploaded_to_a_store_elsewhere_and_its_file_removed(tmp_path):
    store = ChunkStore("memory://large-answers")
    received = tmp_path / "answer.part"
    received.write_bytes(b"\x00\x10" * 4000)
    answer = SynthesizedAudio(audio_file=str(received), encoding=AudioEncoding(kind="pcm", sample_rate=RATE))
    stored = store.put("e" * 64, answer, 0.25)
    assert store.read_audio(stored) == b"\x00\x10" * 4000
    assert not received.exists()
    assert store.get("e" * 64) == stored.model_copy(update={"cached": True})


def test_an_answer_is_in_memory_or_in_a_file_never_both():
    with pytest.raises(ValueError, match="not both"):
        SynthesizedAudio(audio=b"x", audio_file="/tmp/x", encoding=AudioEncoding(kind="wav"))
