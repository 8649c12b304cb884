"""Text intake: read a source through fsspec, parse it by its format, refuse bad input before anything is paid.

What comes out is a Document (tasks.text.documents): spoken blocks, chapters and, for subtitle
sources, the original cues. Markup is never spoken; the spoken text is what is hashed and keyed.
"""

from __future__ import annotations

import fsspec

from tasks.errors import NarrationInputError
from tasks.settings import settings
from tasks.text.documents import Document, DocumentOptions, detect_format, document_from_text, read_document

SUBTITLE_FORMATS = frozenset({"srt", "vtt"})


def open_source_filesystem(url: str, storage_options: dict | None = None):
    """(filesystem, path) for a source URL; an unknown scheme is a clear input error."""
    try:
        return fsspec.core.url_to_fs(url, **(storage_options or {}))
    except (ValueError, ImportError) as error:
        raise NarrationInputError("source", f"cannot open {url!r}: {error}") from None


def read_source_bytes(url: str, storage_options: dict | None = None, field: str = "source") -> bytes:
    """A source's bytes, refusing what is missing, a folder, unreadable or over the size limit (naming `field`)."""
    try:
        return _read_bytes(url, storage_options)
    except NarrationInputError as error:
        if field == "source":
            raise
        raise NarrationInputError(field, str(error).removeprefix("source: ")) from None


def _read_bytes(url: str, storage_options: dict | None) -> bytes:
    fs, path = open_source_filesystem(url, storage_options)
    limit = settings().max_source_bytes
    try:
        size = fs.size(path)
        if size is not None and size > limit:
            raise NarrationInputError(
                "source", f"{url} is {size:,} bytes, over the limit of {limit:,} (NARRATION_MAX_SOURCE_BYTES)"
            )
        with fs.open(path, "rb") as file:
            # Read no more than the file holds: a read of `limit + 1` bytes reserves that much up front.
            data = file.read((limit if size is None else min(size, limit)) + 1)
    except FileNotFoundError:
        raise NarrationInputError("source", f"{url} does not exist") from None
    except IsADirectoryError:
        raise NarrationInputError("source", f"{url} is a folder, not a document") from None
    except PermissionError as error:
        raise NarrationInputError("source", f"{url} cannot be read: {error}") from None
    if len(data) > limit:
        raise NarrationInputError("source", f"{url} is over the limit of {limit:,} bytes")
    return data


def check_document(document: Document, field: str) -> Document:
    """Refuse a document with nothing to speak, or more than the character limit, naming the field and the limit."""
    if not document.blocks:
        raise NarrationInputError(
            field, "there is nothing to speak in it (no words outside markup); give at least one word"
        )
    characters = sum(len(block.text) for block in document.blocks)
    limit = settings().max_source_characters
    if characters > limit:
        raise NarrationInputError(
            field,
            f"the text has {characters:,} characters to speak, over the limit of {limit:,} "
            "(NARRATION_MAX_SOURCE_CHARACTERS)",
        )
    return document


def load_document(
    text: str | None,
    source: str | None,
    input_format: str | None = None,
    options: DocumentOptions | None = None,
    storage_options: dict | None = None,
) -> Document:
    """The document to narrate: inline text (plain unless `input_format` says otherwise) or a source URL."""
    options = options or DocumentOptions()
    if text is not None:
        if not text.strip():
            raise NarrationInputError("text", "the text is empty or only whitespace; give at least one word")
        return check_document(document_from_text(text, input_format or "text", options), "text")
    assert source is not None
    detect_format(source, input_format)  # an unsupported format is refused before anything is read
    return check_document(
        read_document(read_source_bytes(source, storage_options), source, input_format, options), "source"
    )


def subtitle_format(source: str | None, input_format: str | None = None) -> str | None:
    """'srt' or 'vtt' for a subtitle source, else None."""
    if not source:
        return None
    kind = detect_format(source, input_format)
    return kind if kind in SUBTITLE_FORMATS else None
