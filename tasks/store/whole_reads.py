"""Reads of whole files in one request each, on any fsspec filesystem.

s3fs asks an object's size before reading it (a HEAD, and on a miss a listing as well), so that it
can split a large object into ranged reads. The chunk store reads records of a few hundred bytes and
chunks of a few hundred kilobytes, so those extra requests doubled and tripled what each read cost:
with `max_concurrency=1` s3fs sends one GET, and a missing object is one 404.
"""

from __future__ import annotations

import functools
import inspect

import fsspec


@functools.cache
def _one_request_options(filesystem_type: type) -> tuple[tuple[str, int], ...]:
    reader = getattr(filesystem_type, "_cat_file", None)
    if reader is not None and "max_concurrency" in inspect.signature(reader).parameters:
        return (("max_concurrency", 1),)
    return ()


def read_whole(fs: fsspec.AbstractFileSystem, path: str) -> bytes:
    """The file's bytes; FileNotFoundError when it is missing."""
    return fs.cat_file(path, **dict(_one_request_options(type(fs))))


def read_present(fs: fsspec.AbstractFileSystem, paths: list[str]) -> dict[str, bytes]:
    """The files among `paths` that exist, by path as the filesystem names them (concurrent on object stores)."""
    try:
        found = fs.cat(paths, on_error="omit", **dict(_one_request_options(type(fs))))
    except FileNotFoundError:
        return {}
    return {path: data for path, data in found.items() if isinstance(data, bytes)}
