"""Bytes to text: UTF-8 (BOM or not), UTF-16/32 with a BOM; binary and mis-encoded files are refused early."""

from __future__ import annotations

import codecs

from tasks.errors import NarrationInputError

# UTF-32 LE's BOM begins with UTF-16 LE's, so it must be tried first.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _encoding(data: bytes) -> tuple[str, int]:
    """The encoding a BOM announces and the BOM's length; UTF-8 and 0 without one."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, len(bom)
    return "utf-8", 0


def decode_text(data: bytes, name: str) -> str:
    """The text of a document, without its BOM; names the file and the byte offset when it cannot be text."""
    encoding, offset = _encoding(data)
    body = data[offset:]
    if not offset:
        nul = data.find(b"\0")
        if nul >= 0:
            raise NarrationInputError(
                "source",
                f"{name} looks like a binary file (a NUL byte at byte {nul}), not text "
                "(UTF-16 or UTF-32 text needs a byte-order mark; or save it as UTF-8)",
            )
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as error:
        label = encoding.upper().replace("-LE", " LE").replace("-BE", " BE")
        raise NarrationInputError(
            "source", f"{name} is not valid {label} (byte {error.start + offset}: {error.reason}); save it as UTF-8"
        ) from None
    nul = text.find("\0")
    if nul >= 0:  # a binary file that happens to begin with a BOM-like pair of bytes
        raise NarrationInputError("source", f"{name} looks like a binary file (a NUL character at character {nul})")
    return text
