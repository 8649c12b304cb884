"""Content-addressed, write-once storage of checked chunk audio: the resume and regeneration mechanism.

A chunk's key (tasks.store.chunk_keys) hashes everything that shapes its sound; an entry is its audio plus a small
JSON record written after it. Only the record makes an entry visible, and it is written
only once the audio is stored and checked, so a crash never leaves an entry a later run trusts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time

import fsspec
from fsspec.implementations.local import LocalFileSystem

from speech_audio.encodings import AudioEncoding, encoder_for
from tasks.models import ChunkAudio, SynthesizedAudio
from tasks.store import recent_audio
from tasks.store.atomic_files import is_object_store, move_file_atomic, write_bytes_atomic
from tasks.store.whole_reads import read_present, read_whole

logger = logging.getLogger(__name__)


def _cached(key: str, record: bytes) -> ChunkAudio | None:
    """The record as a stored chunk, or None (a miss, synthesized again) when it cannot be read."""
    try:
        entry = ChunkAudio.model_validate_json(record)
    except ValueError as error:
        logger.warning("chunk %s: its record is unreadable (%s); it will be synthesized again", key, error)
        return None
    return entry.model_copy(update={"cached": True}) if entry.key == key else None


def _described(entry: ChunkAudio) -> tuple:
    """What a record says of its audio, which a kept copy of that audio must match."""
    return entry.request_id, entry.duration_seconds, entry.encoding


def relative_to_store(root: str, path: str) -> str:
    """Where a record's file lies, relative to the store: new records hold that; older ones an absolute path.

    An absolute path under another root (a store copied or moved) keeps its last two parts, which
    are the same in every store (`<key[:2]>/<file>`).
    """
    if path.startswith(f"{root}/"):
        return path[len(root) + 1 :]
    parts = path.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) > 2 else path.lstrip("/")


# Far longer than any answer takes to arrive: a file untouched this long was left by a process that was
# killed while receiving it (an interrupted one removes its own).
ABANDONED_AFTER_SECONDS = 6 * 3600


def _remove_abandoned(folder: str) -> None:
    """Remove the files a killed process left in an incoming folder; workers sharing the store receive there too."""
    cutoff = time.time() - ABANDONED_AFTER_SECONDS
    with os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):  # another worker removed or stored it just now
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)


class ChunkStore:
    """Chunk audio under `<root>/<key[:2]>/<key>.<ext>` with `<key>.json` beside it."""

    def __init__(self, url: str, storage_options: dict | None = None) -> None:
        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        self.root = self.root.rstrip("/")
        self._keeps_audio = is_object_store(self.fs)  # reading a local store back costs less than memory

    def _record_path(self, key: str) -> str:
        return f"{self.root}/{key[:2]}/{key}.json"

    def get(self, key: str) -> ChunkAudio | None:
        """The stored chunk, or None where it was never completely stored."""
        try:
            record = read_whole(self.fs, self._record_path(key))
        except FileNotFoundError:
            return None
        return _cached(key, record)

    def get_many(self, keys: list[str]) -> dict[str, ChunkAudio]:
        """The stored ones among `keys`, in one batched read (concurrent on object stores)."""
        paths = {self._record_path(key): key for key in dict.fromkeys(keys)}
        records = read_present(self.fs, list(paths))
        found: dict[str, ChunkAudio] = {}
        for path, record in records.items():
            key = paths.get(path) or paths.get(self.fs._strip_protocol(path))
            if key and (entry := _cached(key, record)) is not None:
                found[key] = entry
        return found

    def _audio_path(self, key: str, encoding: AudioEncoding) -> str:
        return f"{key[:2]}/{key}.{encoder_for(encoding.kind).extension}"

    def full_path(self, path: str) -> str:
        """A record's file on this store's filesystem, whatever root the record was written under."""
        return f"{self.root}/{relative_to_store(self.root, path)}"

    def incoming_folder(self) -> str | None:
        """A folder on a local store's own filesystem for audio being received, where storing it is then a
        rename; None for other stores (audio is then received in the system's temporary folder, and uploaded).

        Not the system's temporary folder for local stores: where that is a tmpfs (Fedora, Arch), an answer
        received there would still be held in memory, and copied to the store.
        """
        if not isinstance(self.fs, LocalFileSystem):
            return None
        folder = f"{self.root}/.incoming"
        os.makedirs(folder, exist_ok=True)
        _remove_abandoned(folder)
        return folder

    def _commit(self, entry: ChunkAudio) -> ChunkAudio:
        write_bytes_atomic(self.fs, self._record_path(entry.key), entry.model_dump_json().encode())
        return entry

    def put(self, key: str, synthesized: SynthesizedAudio, duration_seconds: float) -> ChunkAudio:
        """Store checked audio, then its record; returns what later runs will find.

        Audio in a local file (a large answer, a long job's result) is moved into the store, streamed and
        never whole in memory; the file is gone afterwards.
        """
        audio_path = self._audio_path(key, synthesized.encoding)
        if synthesized.audio_file is None:
            write_bytes_atomic(self.fs, self.full_path(audio_path), synthesized.audio)
        else:
            move_file_atomic(self.fs, synthesized.audio_file, self.full_path(audio_path))
        entry = ChunkAudio(
            key=key,
            path=audio_path,
            encoding=synthesized.encoding,
            duration_seconds=duration_seconds,
            request_id=synthesized.request_id,
            billed_characters=synthesized.billed_characters,
            sentence_starts=synthesized.sentence_starts,
        )
        if self._keeps_audio:  # measuring it and making its segment read it back within seconds
            url = self._audio_url(audio_path)
            if synthesized.audio_file is None:
                recent_audio.keep(url, _described(entry), synthesized.audio)
            else:  # not held in memory: what was kept for this URL before is another answer's
                recent_audio.forget(url)
        return self._commit(entry)

    def _sidecar_path(self, key: str, name: str) -> str:
        return f"{self.root}/{key[:2]}/{key}.{name}.json"

    def read_sidecar(self, key: str, name: str) -> bytes | None:
        """What was measured from a chunk and kept beside it (`name`: e.g. analysis), or None."""
        try:
            return read_whole(self.fs, self._sidecar_path(key, name))
        except FileNotFoundError:
            return None

    def write_sidecar(self, key: str, name: str, data: bytes) -> None:
        write_bytes_atomic(self.fs, self._sidecar_path(key, name), data)

    def _audio_url(self, path: str) -> str:
        """A record's audio file as a URL: what recent_audio keeps it under."""
        return self.fs.unstrip_protocol(self.full_path(path))

    def read_audio(self, entry: ChunkAudio) -> bytes:
        if (
            self._keeps_audio
            and (audio := recent_audio.kept(self._audio_url(entry.path), _described(entry))) is not None
        ):
            return audio
        return read_whole(self.fs, self.full_path(entry.path))
