"""Audio a process has just written to an object store, kept a little while for the reads that follow.

A new chunk is read back twice within seconds of being stored: to measure it, and to make the segment
that holds it. On S3 each of those reads is a GET (a third of a chunk's requests in the fleet benchmark),
with the client's signing and parsing to pay for, while the bytes were in this process a moment before.

Entries are keyed by the object's URL. A chunk's key hashes everything that shapes its sound and its
audio is written once, so the bytes at a URL never change and a kept copy cannot go stale. Local and
in-memory stores are not kept: reading them back costs less than the memory, and a long book's peak
memory is measured on a local store. What is kept is bounded by MAX_BYTES, the oldest dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import fsspec

MAX_BYTES = 8 * 1024 * 1024  # a few dozen short chunks, or two of a long book's longest
_NOT_KEPT = {"file", "local", "memory"}

_kept: OrderedDict[str, bytes] = OrderedDict()
_kept_bytes = 0
_lock = threading.Lock()


def worth_keeping(fs: fsspec.AbstractFileSystem) -> bool:
    """Whether reading back from `fs` costs a request (an object store), not a local read."""
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    return not protocols & _NOT_KEPT


def keep(url: str, audio: bytes) -> None:
    """Keep what was just written at `url` (nothing larger than MAX_BYTES)."""
    global _kept_bytes
    if len(audio) > MAX_BYTES:
        return
    with _lock:
        if (previous := _kept.pop(url, None)) is not None:
            _kept_bytes -= len(previous)
        _kept[url] = audio
        _kept_bytes += len(audio)
        while _kept_bytes > MAX_BYTES:
            _, dropped = _kept.popitem(last=False)
            _kept_bytes -= len(dropped)


def kept(url: str) -> bytes | None:
    """The bytes written at `url` by this process, if still kept."""
    with _lock:
        audio = _kept.get(url)
        if audio is not None:
            _kept.move_to_end(url)
        return audio


def forget_all() -> None:
    """Drop everything kept (tests, and a process that wants its memory back)."""
    global _kept_bytes
    with _lock:
        _kept.clear()
        _kept_bytes = 0
