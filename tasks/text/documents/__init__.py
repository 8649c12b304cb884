"""Documents read for speaking: Markdown, HTML, EPUB, SRT/VTT and plain text become blocks, chapters and cues.

Importing this package loads no parser; each format's reader is imported when a document of it is read.
"""

from .decoding import decode_text
from .formats import SUPPORTED_FORMATS, detect_format
from .model import Block, Chapter, Document, DocumentOptions, SourceCue
from .reading import document_from_text, read_document

__all__ = [
    "SUPPORTED_FORMATS",
    "Block",
    "Chapter",
    "Document",
    "DocumentOptions",
    "SourceCue",
    "decode_text",
    "detect_format",
    "document_from_text",
    "read_document",
]
