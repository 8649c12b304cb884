"""Audio a process has just written to an object store, kept a little while for the reads that follow.

A new chunk is read back twice within seconds of being stored: to measure it, and to make the segment
that holds it. On S3 each of those reads is a GET (a third of a chunk's requests in the fleet benchmark),
with the client's signing and parsing to pay for, while the bytes were in this process a moment before.

Entries are keyed by the object's URL and carry what the chunk's record says of the audio (its
request id and duration). A chunk's audio is written again only where its record was missing (a crash
between the two writes, an unreadable record, two runs paying for the same key at once), and then
another process may have written other bytes there: a kept copy is used only for a record that
describes it. Only object stores are kept: reading a local store back costs less than the memory.
Kept audio adds up to MAX_BYTES to a process's memory, the oldest dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

MAX_BYTES = 8 * 1024 * 1024  # a few dozen short chunks, or two of a long book's longest

_kept: OrderedDict[str, tuple[Hashable, bytes]] = OrderedDict()
_kept_bytes = 0
_lock = threading.Lock()


def keep(url: str, identity: Hashable, audio: bytes) -> None:
    """Keep what was just written at `url`, with what its record says of it (nothing over MAX_BYTES)."""
    global _kept_bytes
    with _lock:
        _drop(url)
        if len(audio) > MAX_BYTES:
            return
        _kept[url] = (identity, audio)
        _kept_bytes += len(audio)
        while _kept_bytes > MAX_BYTES:
            _, (_, dropped) = _kept.popitem(last=False)
            _kept_bytes -= len(dropped)


def kept(url: str, identity: Hashable) -> bytes | None:
    """The bytes this process wrote at `url`, if still kept and the record reading them describes them."""
    with _lock:
        entry = _kept.get(url)
        if entry is None or entry[0] != identity:
            return None
        _kept.move_to_end(url)
        return entry[1]


def forget(url: str) -> None:
    """Drop what is kept for `url` (its object is being written by other means)."""
    with _lock:
        _drop(url)


def _drop(url: str) -> None:
    """Drop `url`'s entry; the caller holds _lock."""
    global _kept_bytes
    if (previous := _kept.pop(url, None)) is not None:
        _kept_bytes -= len(previous[1])


def forget_all() -> None:
    """Drop everything kept (tests, and a process that wants its memory back)."""
    global _kept_bytes
    with _lock:
        _kept.clear()
        _kept_bytes = 0
