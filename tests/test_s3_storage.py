"""The whole narrate flow against S3 served by moto: sources, chunks and audio in the bucket."""

from __future__ import annotations

import asyncio
import json

import pytest
import s3fs

from blocks import NarrationStorage
from flows.narrate import narrate
from flows.parameters import NarrationRequest
from speech_audio.codec import decoded_samples
from speech_audio.encodings import AudioEncoding
from tasks.errors import NarrationInputError
from tests.provider_blocks import save_block
from tests.s3_server import MotoServer
from tests.store_probe import is_chunk_record


@pytest.fixture(scope="module")
def moto():
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def bucket(moto, request):
    fs = s3fs.S3FileSystem(**moto.storage_options)
    name = f"narration-{request.node.name[:20].replace('_', '-').lower()}"
    fs.mkdir(name)
    return fs, name


def test_narrate_reads_from_and_writes_to_the_bucket(prefect_api_url, emulator, moto, bucket):
    fs, name = bucket
    fs.pipe_file(
        f"{name}/docs/chapter.md", b"A chapter kept in a bucket. It has two sentences.\n\nAnd a second paragraph."
    )
    NarrationStorage(base_url=f"s3://{name}", storage_options=moto.storage_options).save("moto", overwrite=True)
    provider = save_block("openai-speech", emulator.url, "s3", chunk_characters=60)
    manifest = asyncio.run(
        narrate(
            NarrationRequest(
                source=f"s3://{name}/docs/chapter.md",
                output=f"s3://{name}/out/",
                provider=provider,
                storage="narration-storage/moto",
            )
        )
    )
    assert manifest.audio == f"s3://{name}/out/chapter.mp3"
    audio = fs.cat_file(f"{name}/out/chapter.mp3")
    assert (
        abs(
            decoded_samples(audio, AudioEncoding(kind="mp3"), manifest.sample_rate) / manifest.sample_rate
            - manifest.duration_seconds
        )
        <= 0.05
    )
    stored = json.loads(fs.cat_file(f"{name}/out/chapter.manifest.json"))
    assert stored["chunks_synthesized"] == len(stored["chunks"]) == emulator.served("openai")
    records = [path for path in fs.glob(f"{name}/out/.chunks/*/*.json") if is_chunk_record(path.rsplit("/", 1)[-1])]
    assert len(records) == len(stored["chunks"])
    everything = b"".join(fs.cat_file(path) for path in fs.find(name))
    assert b"moto-secret-key-SECRET" not in everything


def test_path_traversal_and_clashing_names_are_refused(prefect_api_url, tmp_path):
    from flows.narrate_folder import narrate_folder

    with pytest.raises(NarrationInputError, match=r"name: '\.\./\.\./etc/x' is not a plain file name"):
        asyncio.run(narrate(NarrationRequest(text="Hello.", name="../../etc/x", output=str(tmp_path))))
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "story.txt").write_text("One.")
    (folder / "story.md").write_text("Two.")
    with pytest.raises(NarrationInputError, match="story.md and .*story.txt would both be written as 'story'"):
        asyncio.run(narrate_folder(source=str(folder), output=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()


def test_the_cli_opens_the_bucket_only_with_the_storage_blocks_credentials(prefect_env, emulator, moto, bucket):
    """`narrate --storage`: the source and output open with the block's credentials, never without them."""
    import subprocess
    import sys
    from pathlib import Path

    fs, name = bucket
    fs.pipe_file(f"{name}/docs/note.txt", b"A note kept in a bucket. Only the storage block can open it.")
    NarrationStorage(base_url=f"s3://{name}", storage_options=moto.storage_options).save("cli-moto", overwrite=True)
    provider = save_block("openai-speech", emulator.url, "s3-cli", chunk_characters=80)
    env = {key: value for key, value in prefect_env.items() if not key.startswith("AWS_")}  # no ambient keys
    command = [sys.executable, "-m", "flows.cli", f"s3://{name}/docs/note.txt", "--provider", provider, "--quiet"]
    root = Path(__file__).resolve().parents[1]
    outside = subprocess.run(
        [*command, "--out", "s3://elsewhere/out/", "--storage", "narration-storage/cli-moto"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert outside.returncode == 2 and "outside the storage block's base URL" in outside.stderr
    done = subprocess.run(
        [*command, "--out", f"s3://{name}/out/", "--storage", "narration-storage/cli-moto"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(fs.cat_file(f"{name}/out/note.manifest.json"))["source"] == f"s3://{name}/docs/note.txt"


def test_audio_just_stored_in_the_bucket_is_read_back_without_a_request(moto, bucket, tmp_path):
    """Measuring a new chunk and making its segment read it back at once: on S3 that used to be two GETs."""
    from tasks.models import SynthesizedAudio
    from tasks.store import recent_audio
    from tasks.store.chunk_store import ChunkStore

    fs, name = bucket
    audio = bytes(range(256)) * 64
    answer = SynthesizedAudio(audio=audio, encoding=AudioEncoding(kind="pcm", sample_rate=16000), request_id="first")
    in_bucket = ChunkStore(f"s3://{name}/store", storage_options=moto.storage_options)
    try:
        entry = in_bucket.put("ab" + "0" * 62, answer, 0.5)
        fs.rm(f"{name}/store/{entry.path}")  # gone from the bucket: only a kept copy can answer now
        assert in_bucket.read_audio(entry) == audio

        # Another process paid for the same key again (its record was missing) and wrote other audio:
        # its record does not describe the kept copy, so the bucket answers.
        other = b"other audio" * 100
        fs.pipe_file(f"{name}/store/{entry.path}", other)
        assert in_bucket.read_audio(entry.model_copy(update={"request_id": "second"})) == other

        recent_audio.forget_all()
        assert in_bucket.read_audio(entry) == other  # not kept any more: read from the bucket

        on_disk = ChunkStore(str(tmp_path / "store"))
        local_entry = on_disk.put("cd" + "0" * 62, answer, 0.5)
        (tmp_path / "store" / local_entry.path).unlink()
        with pytest.raises(FileNotFoundError):
            on_disk.read_audio(local_entry)  # a local store is read back, never kept
    finally:
        recent_audio.forget_all()
