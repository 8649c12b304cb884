"""The entry points: bytes or inline text in, a Document out. Readers are imported only when needed."""

from __future__ import annotations

from tasks.errors import NarrationInputError

from .decoding import decode_text
from .formats import detect_format
from .model import Document, DocumentOptions

_DEFAULT_OPTIONS = DocumentOptions()


def document_from_text(text: str, format: str = "text", options: DocumentOptions = _DEFAULT_OPTIONS) -> Document:
    """Read already decoded text as `format` (text, markdown, html, srt, vtt or an alias such as md)."""
    kind = detect_format(None, format)
    if kind == "text":
        from .plain_reader import read_plain

        return read_plain(text, options)
    if kind == "markdown":
        from .markdown_reader import read_markdown

        return read_markdown(text, options)
    if kind == "html":
        from .html_reader import read_html

        return read_html(text, options)
    if kind in ("srt", "vtt"):
        from .subtitle_reader import read_subtitles

        return read_subtitles(text, kind, options)
    raise NarrationInputError("input_format", "an EPUB is a zip archive, not text: read it from its bytes")


def read_document(
    data: bytes, name: str | None, input_format: str | None = None, options: DocumentOptions = _DEFAULT_OPTIONS
) -> Document:
    """Read a source's bytes: the format from `input_format`, else from `name`'s extension."""
    kind = detect_format(name, input_format)
    label = name or "the document"
    if kind == "epub":
        from .epub_reader import read_epub

        return read_epub(data, label, options)
    return document_from_text(decode_text(data, label), kind, options)
