"""Small rules for what a listener hears: clean spacing, sentence ends, and URLs spoken as their host."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

# Invisible characters that TTS engines may read or that split words: soft hyphen, zero-width space, BOM.
# Removed by a regular expression: str.translate looks every character of non-ASCII text up in a table,
# which was a third of the time to read a 10 MB Chinese text.
_INVISIBLE = re.compile("[\u00ad\u200b\ufeff]+")
_SENTENCE_END = frozenset(".!?…:;。！？；：")
_CLOSERS = "\"'”’»)]}」』）"
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


def clean_text(text: str) -> str:
    """NFC, invisible characters removed, any run of whitespace (newlines too) made one space, stripped."""
    return " ".join(_INVISIBLE.sub("", unicodedata.normalize("NFC", text)).split())


def has_words(text: str) -> bool:
    """True when there is something to say: a letter or a digit (not only '...', '---' or symbols)."""
    return any(character.isalnum() for character in text)


def _is_han_or_kana(character: str) -> bool:
    code = ord(character)
    return 0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF


def end_sentence(text: str) -> str:
    """Add a full stop when the text has no closing punctuation, so a list item is spoken with a falling end."""
    core = text.rstrip(_CLOSERS)
    if not core or core[-1] in _SENTENCE_END:
        return text
    return text + ("。" if _is_han_or_kana(core[-1]) else ".")


def is_url(text: str) -> bool:
    """True for a whole http(s) or www. URL, which is spoken as its host name."""
    return _URL.fullmatch(text.strip()) is not None


def spoken_url(text: str) -> str:
    """`https://www.github.com/x/y` -> `github.com`; text that is not an http(s)/www URL is returned unchanged."""
    stripped = text.strip()
    if not is_url(stripped):
        return text
    try:
        host = urlsplit(stripped if "://" in stripped else f"http://{stripped}").hostname
    except ValueError:  # malformed, e.g. an unclosed IPv6 bracket: say nothing rather than spell it
        return ""
    return (host or "").removeprefix("www.")
