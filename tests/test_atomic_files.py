"""Atomic publishing through real fsspec filesystems: old content stays until new content is whole."""

from __future__ import annotations

import fsspec
import pytest

from tasks.store.atomic_files import put_file_atomic, write_bytes_atomic


@pytest.mark.parametrize("protocol", ["file", "memory"])
def test_a_failed_write_leaves_the_old_file_and_no_debris(tmp_path, protocol):
    fs = fsspec.filesystem(protocol)
    folder = str(tmp_path) if protocol == "file" else f"/atomic-{tmp_path.name}"
    path = f"{folder}/out/narration.mp3"
    write_bytes_atomic(fs, path, b"good audio")
    with pytest.raises(FileNotFoundError):
        put_file_atomic(fs, str(tmp_path / "missing-local-file"), path)
    assert fs.cat_file(path) == b"good audio"
    assert fs.ls(f"{folder}/out", detail=False) == [fs._strip_protocol(path)]


def test_a_write_replaces_the_whole_file(tmp_path):
    fs = fsspec.filesystem("file")
    path = str(tmp_path / "manifest.json")
    write_bytes_atomic(fs, path, b"x" * 10_000)
    write_bytes_atomic(fs, path, b"short")
    assert fs.cat_file(path) == b"short"
