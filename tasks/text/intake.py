"""Text intake: read a source through fsspec, decode strictly, normalise, refuse bad input early."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

import fsspec

from tasks.errors import NarrationInputError
from tasks.settings import settings

_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*")
_SUBTITLE_TIMING = re.compile(r"^\s*[\d:.,]+\s*-->\s*[\d:.,]+.*$")
_SUBTITLE_SUFFIXES = {".srt", ".vtt"}


def normalise_text(text: str) -> str:
    """Unify line ends and spaces; keep blank lines (paragraph breaks) and single newlines as spaces."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = text.replace("\ufeff", "")
    paragraphs = _BLANK_LINES.split(text)
    cleaned = (_SPACES.sub(" ", p.replace("\n", " ")).strip() for p in paragraphs)
    return "\n\n".join(p for p in cleaned if p)


def subtitle_text(document: str) -> str:
    """The spoken text of an SRT or WebVTT file: cue lines without numbers, timings or headers."""
    lines: list[str] = []
    for line in document.splitlines():
        stripped = line.strip()
        if (
            not stripped
            or stripped.isdigit()
            or stripped.startswith(("WEBVTT", "NOTE", "STYLE", "REGION"))
            or _SUBTITLE_TIMING.match(stripped)
        ):
            continue
        lines.append(re.sub(r"<[^>]+>", "", stripped))
    return " ".join(lines)


def check_text(text: str, field: str) -> str:
    """Normalise, then refuse empty or over-long text, naming the field and the limit."""
    normalised = normalise_text(text)
    if not normalised:
        raise NarrationInputError(field, "the text is empty or only whitespace; give at least one word")
    limit = settings().max_source_characters
    if len(normalised) > limit:
        raise NarrationInputError(
            field,
            f"the text has {len(normalised):,} characters, over the limit of {limit:,} "
            "(NARRATION_MAX_SOURCE_CHARACTERS)",
        )
    return normalised


def decode_source(data: bytes, url: str) -> str:
    """Strict UTF-8; a NUL byte or invalid sequence means a binary or mis-encoded file."""
    if b"\0" in data[:65536]:
        raise NarrationInputError("source", f"{url} looks like a binary file (it holds NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise NarrationInputError("source", f"{url} is not valid UTF-8 (byte {error.start}: {error.reason})") from None


def open_source_filesystem(url: str, storage_options: dict | None = None):
    """(filesystem, path) for a source URL; an unknown scheme is a clear input error."""
    try:
        return fsspec.core.url_to_fs(url, **(storage_options or {}))
    except (ValueError, ImportError) as error:
        raise NarrationInputError("source", f"cannot open {url!r}: {error}") from None


def subtitle_kind(url: str | None) -> str | None:
    """'srt' or 'vtt' for a subtitle source, else None."""
    suffix = PurePosixPath(url or "").suffix.lower()
    return suffix[1:] if suffix in _SUBTITLE_SUFFIXES else None


def read_source_text(url: str, storage_options: dict | None = None, *, raw: bool = False) -> str:
    """Read and decode a source document (subtitle files give their spoken text unless `raw`)."""
    fs, path = open_source_filesystem(url, storage_options)
    limit = settings().max_source_bytes
    try:
        size = fs.size(path)
        if size is not None and size > limit:
            raise NarrationInputError(
                "source", f"{url} is {size:,} bytes, over the limit of {limit:,} (NARRATION_MAX_SOURCE_BYTES)"
            )
        with fs.open(path, "rb") as file:
            data = file.read(limit + 1)
    except FileNotFoundError:
        raise NarrationInputError("source", f"{url} does not exist") from None
    except IsADirectoryError:
        raise NarrationInputError("source", f"{url} is a folder, not a document") from None
    except PermissionError as error:
        raise NarrationInputError("source", f"{url} cannot be read: {error}") from None
    if len(data) > limit:
        raise NarrationInputError("source", f"{url} is over the limit of {limit:,} bytes")
    text = decode_source(data, url)
    if subtitle_kind(path) and not raw:
        text = subtitle_text(text)
    return text
