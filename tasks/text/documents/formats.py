"""Which reader a source needs, from an explicit format or the file's extension; anything else is refused."""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import urlsplit

from tasks.errors import NarrationInputError

# Explicit `input_format` values accepted, and the format each means.
FORMAT_ALIASES = {
    "txt": "text",
    "text": "text",
    "md": "markdown",
    "markdown": "markdown",
    "html": "html",
    "htm": "html",
    "epub": "epub",
    "srt": "srt",
    "vtt": "vtt",
}
EXTENSIONS = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".epub": "epub",
    ".srt": "srt",
    ".vtt": "vtt",
}
SUPPORTED_FORMATS = (
    "text (.txt, .text or no extension), markdown (.md, .markdown), html (.html, .htm, .xhtml), "
    "epub (.epub), srt (.srt), vtt (.vtt)"
)


def _extension(name: str) -> str:
    """The lower-cased extension of a path or URL (a URL's query and fragment are not part of it)."""
    path = urlsplit(name).path if "://" in name else name
    return PurePosixPath(path).suffix.lower()


def detect_format(name: str | None, input_format: str | None) -> str:
    """One of text, markdown, html, epub, srt, vtt; an explicit `input_format` wins over the extension."""
    if input_format is not None and input_format.strip():
        key = input_format.strip().lower().lstrip(".")
        if key not in FORMAT_ALIASES:
            raise NarrationInputError(
                "input_format",
                f"{input_format!r} is not a format that can be narrated; use one of {', '.join(FORMAT_ALIASES)}",
            )
        return FORMAT_ALIASES[key]
    if not name:
        return "text"  # inline text
    extension = _extension(name)
    if not extension:
        return "text"
    if extension not in EXTENSIONS:
        raise NarrationInputError(
            "source",
            f"{name} has the extension {extension}, which cannot be narrated; supported formats: {SUPPORTED_FORMATS} "
            "(set input_format to read it as one of them)",
        )
    return EXTENSIONS[extension]
