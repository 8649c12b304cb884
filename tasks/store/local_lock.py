"""One writer at a time for an output on a local disk, through the operating system's file lock.

An output on this machine's disk (or a network disk mounted here) is only written by processes that
can open it, so a lock file beside it orders them: no server round trips, and nothing left held when
a process dies (the system drops its locks). Outputs elsewhere (S3, GCS…) need a lock every worker
shares, which the flow takes from Prefect instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

POLL_SECONDS = 0.05


def local_lock_path(url: str) -> Path | None:
    """The lock file for a local output (`.<name>.lock` beside it), or None if the URL is not on a local disk."""
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ValueError, ImportError):
        return None
    if not isinstance(fs, LocalFileSystem):
        return None
    target = Path(path)
    return target.with_name(f".{target.name}.lock")


@contextlib.asynccontextmanager
async def held_alone_on_disk(lock_path: Path) -> AsyncIterator[None]:
    """Hold an exclusive lock on `lock_path` (created if missing) for the block; waiting does not block the loop."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        # Polled without blocking, so a cancelled run stops waiting at once and never takes the lock later.
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(POLL_SECONDS)
        yield
    finally:
        os.close(descriptor)  # closing the last descriptor releases the lock
