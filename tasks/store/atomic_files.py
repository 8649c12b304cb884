"""Writes a reader never sees half-done, on any fsspec filesystem.

Object stores (S3, GCS, Azure) publish an object whole when its upload completes, so a plain
put is already atomic there. Filesystems with renames (local, memory, SFTP…) get the data
under a temporary name first, then one rename over the final name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import uuid
from collections.abc import Callable

import fsspec
from fsspec.implementations.local import LocalFileSystem

_OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"}


def is_object_store(fs: fsspec.AbstractFileSystem) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, tuple | list) else (fs.protocol,)
    return bool(_OBJECT_STORES.intersection(protocols))


def _temporary_sibling(path: str) -> str:
    head, _, name = path.rpartition("/")
    return f"{head}/.{name}.{uuid.uuid4().hex[:12]}.part" if head else f".{name}.{uuid.uuid4().hex[:12]}.part"


def _publish(fs: fsspec.AbstractFileSystem, write, path: str) -> None:
    if is_object_store(fs):
        # No folders to make: s3fs's makedirs asks whether the bucket exists (a HEAD, often a listing too)
        # before every write, which made up a third of a narration's requests to S3.
        write(path)
        return
    parent = path.rpartition("/")[0]
    if parent:
        fs.makedirs(parent, exist_ok=True)
    temporary = _temporary_sibling(path)
    try:
        write(temporary)
        if isinstance(fs, LocalFileSystem):
            os.replace(temporary, path)  # atomic over an existing file, unlike a copy
        else:
            fs.mv(temporary, path)
    except BaseException:
        if fs.exists(temporary):
            fs.rm(temporary)
        raise


def write_bytes_atomic(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old content or the new, never a mix."""
    _publish(fs, lambda target: fs.pipe_file(target, data), path)


def put_file_atomic(fs: fsspec.AbstractFileSystem, local_path: str, path: str) -> None:
    """Upload a local file to `path`, streaming, with the same guarantee."""
    _publish(fs, lambda target: fs.put_file(local_path, target), path)


def move_file_atomic(fs: fsspec.AbstractFileSystem, local_path: str, path: str) -> None:
    """Move a local file to `path` with the same guarantee: one rename on the same local filesystem,
    else a copy or upload, after which the local file is removed."""
    if isinstance(fs, LocalFileSystem):
        parent = path.rpartition("/")[0]
        if parent:
            fs.makedirs(parent, exist_ok=True)
        try:
            os.replace(local_path, path)
            return
        except OSError as error:
            if error.errno != errno.EXDEV:  # only "another filesystem" is worth a copy
                raise
    put_file_atomic(fs, local_path, path)
    with contextlib.suppress(FileNotFoundError):  # an interrupted caller may have removed it already
        os.unlink(local_path)


def make_file_atomic(fs: fsspec.AbstractFileSystem, path: str, make: Callable[[str], None], suffix: str = "") -> None:
    """Have `make(local_path)` write a file, and publish it at `path` with the same guarantee.

    On a local filesystem `make` writes the temporary sibling itself, which is then renamed: a
    narration is not written once and copied again (for a long WAV, gigabytes twice). Elsewhere it
    writes a local temporary file, which is uploaded, then removed.
    """
    if isinstance(fs, LocalFileSystem):
        _publish(fs, make, path)
        return
    handle, local = tempfile.mkstemp(suffix=suffix, prefix="narration-")
    os.close(handle)
    try:
        make(local)
        put_file_atomic(fs, local, path)
    finally:
        if os.path.exists(local):
            os.unlink(local)
