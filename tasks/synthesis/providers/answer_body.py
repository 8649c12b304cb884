"""An answer's body read as it arrives: held in memory while small, spilled to a local file once large.

A long chunk's answer is minutes of audio (100 s of 16 kHz PCM is 3.2 MB). With the provider's cap of
requests in flight and as many answers again waiting for their check and store, holding each whole
cost a long narration tens of MB at its first burst of answers, and the large blocks it freed left
the heap fragmented. Past SPILL_BYTES the body goes to a file instead, which is checked from there and
moved into the chunk store, so long audio is never whole in memory: for a local store the file is made
in the store's own incoming folder, and storing it is a rename. Short answers stay in memory: they are
most requests, and a file each would only cost time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from dataclasses import dataclass

import httpx

SPILL_BYTES = 256 << 10  # about 8 s of 16 kHz PCM


@dataclass(frozen=True, slots=True)
class AnswerBody:
    """The audio of one answer: bytes, or (when large) a local file holding them and empty bytes."""

    audio: bytes
    file: str | None = None


def new_answer_file(folder: str | None = None) -> tuple[int, str]:
    """A new file for an answer's audio in `folder` (default: the temporary folder): (open descriptor, path).

    In a chunk store's folder it is created with the usual permissions, not mkstemp's owner-only ones: it
    is renamed into the store as it is, and read there by every worker that shares the store. In the
    shared temporary folder (for a store elsewhere, to which it is uploaded) only its owner may read it.
    """
    path = os.path.join(folder or tempfile.gettempdir(), f"answer-{uuid.uuid4().hex}.part")
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if folder else 0o600), path


async def read_body(response: httpx.Response, folder: str | None = None, spill_bytes: int = SPILL_BYTES) -> AnswerBody:
    """Read `response`'s body (decoded as the server encoded it); one over `spill_bytes` ends up in a file in
    `folder` (default: the temporary folder)."""
    pieces: list[bytes] = []
    held = 0
    file = None
    path = None
    try:
        async for piece in response.aiter_bytes():
            if file is not None:
                file.write(piece)  # to the page cache: microseconds a piece, not worth a thread
                continue
            pieces.append(piece)
            held += len(piece)
            if held > spill_bytes:
                handle, path = new_answer_file(folder)
                file = os.fdopen(handle, "wb")
                file.writelines(pieces)
                pieces.clear()
        if file is None:
            return AnswerBody(b"".join(pieces))
        await asyncio.to_thread(file.close)  # on a network filesystem, closing waits for the data to reach it
        return AnswerBody(b"", path)
    except BaseException:
        if file is not None:
            file.close()
        discard_file(path)
        raise


def discard_file(path: str | None) -> None:
    """Remove an answer's file, if it has one and it is still there (stored answers' files were moved)."""
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
