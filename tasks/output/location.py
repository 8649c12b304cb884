"""Where a narration is written: a safe name under the output prefix, checked writable up front."""

from __future__ import annotations

import re
import unicodedata
import uuid
from pathlib import PurePosixPath

import fsspec

from tasks.errors import NarrationInputError

_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)
MAX_NAME_LENGTH = 120


def safe_name(name: str) -> str:
    """A file-name stem with no separators, no leading dots, no traversal; refused if nothing is left."""
    cleaned = _UNSAFE.sub("-", unicodedata.normalize("NFC", name)).strip("-.")
    cleaned = cleaned[:MAX_NAME_LENGTH]
    if not cleaned:
        raise NarrationInputError("name", f"{name!r} leaves no usable file name; use letters, digits, '-', '_' or '.'")
    return cleaned


def name_for(source: str | None, text_sha256: str, requested: str | None) -> str:
    """The requested name, else the source file's stem, else `text-<hash>` for inline text."""
    if requested:
        if requested != safe_name(requested):
            raise NarrationInputError(
                "name", f"{requested!r} is not a plain file name (no '/', '..', spaces or leading dots)"
            )
        return requested
    if source:
        return safe_name(PurePosixPath(source.rstrip("/")).stem)
    return f"text-{text_sha256[:12]}"


def check_writable(output: str, storage_options: dict | None = None) -> None:
    """Create the output prefix and write and remove a probe there, so a bad output fails before paying."""
    try:
        fs, root = fsspec.core.url_to_fs(output, **(storage_options or {}))
    except (ValueError, ImportError) as error:
        raise NarrationInputError("output", f"cannot open {output!r}: {error}") from None
    probe = f"{root.rstrip('/')}/.write-check-{uuid.uuid4().hex[:12]}"
    try:
        fs.makedirs(root, exist_ok=True)
        fs.pipe_file(probe, b"")
        fs.rm(probe)
    except (OSError, PermissionError) as error:
        raise NarrationInputError("output", f"{output} cannot be written: {error}") from None


def join_url(prefix: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{name}"


#: the subtitle files written beside every narration
SUBTITLE_FORMATS = ("srt", "vtt")


def subtitle_urls(audio_url: str) -> dict[str, str]:
    """The subtitle files beside an audio file, by format: `book.mp3` has `book.srt` and `book.vtt`."""
    stem = audio_url.rsplit(".", 1)[0]
    return {kind: f"{stem}.{kind}" for kind in SUBTITLE_FORMATS}
