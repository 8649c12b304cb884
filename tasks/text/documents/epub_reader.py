"""EPUB through ebooklib: spine documents in order through the HTML walker, chapters from the table of contents."""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Iterator
from urllib.parse import unquote

from ebooklib import epub

from tasks.errors import NarrationInputError

from .collector import BlockCollector
from .html_reader import HtmlWalker, parse_html
from .model import Chapter, Document, DocumentOptions
from .spoken import clean_text

# An EPUB is a zip: refuse one that would inflate past this before ebooklib reads it all into memory.
MAX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024
_XHTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})


def _open_book(data: bytes, name: str) -> epub.EpubBook:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise NarrationInputError("source", f"{name} is not an EPUB (it is not a zip archive)") from None
    if inflated > MAX_UNCOMPRESSED_BYTES:
        raise NarrationInputError(
            "source", f"{name} unpacks to {inflated:,} bytes, over the limit of {MAX_UNCOMPRESSED_BYTES:,}"
        )
    try:
        return epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
    except Exception as error:  # ebooklib raises many kinds (KeyError, lxml errors...) on a malformed book
        raise NarrationInputError("source", f"{name} is not a readable EPUB: {error or type(error).__name__}") from None


def _toc_entries(entries: list, depth: int = 1) -> Iterator[tuple[str, str, int, list]]:
    """(title, href, depth, children) for every entry; a Section comes as (Section, [children])."""
    for entry in entries:
        if isinstance(entry, tuple | list) and len(entry) == 2 and isinstance(entry[1], list):
            node, children = entry
            yield getattr(node, "title", "") or "", getattr(node, "href", "") or "", depth, children
            yield from _toc_entries(children, depth + 1)
        elif isinstance(entry, list):
            yield from _toc_entries(entry, depth)
        else:
            yield getattr(entry, "title", "") or "", getattr(entry, "href", "") or "", depth, []


class _Locator:
    """Finds the block a TOC href points at: the anchor's block, else the first block of the file."""

    def __init__(self, file_starts: dict[str, int], anchors: dict[tuple[str, str], int], block_count: int) -> None:
        self.file_starts = file_starts
        self.anchors = anchors
        self.block_count = block_count

    def _file(self, path: str) -> str | None:
        if path in self.file_starts:
            return path
        normalised = posixpath.normpath(path)
        for file_name in self.file_starts:  # NCX hrefs are relative to the NCX, not to the package
            if file_name == normalised or file_name.endswith("/" + normalised) or normalised.endswith("/" + file_name):
                return file_name
        return None

    def index(self, href: str, children: list) -> int | None:
        path, _, fragment = href.partition("#")
        file_name = self._file(unquote(path)) if path else None
        if file_name is None:
            # a section heading without a link starts where its first linked entry does
            for _title, child_href, _depth, grandchildren in _toc_entries(children):
                found = self.index(child_href, grandchildren)
                if found is not None:
                    return found
            return None
        index = self.anchors.get((file_name, unquote(fragment)), self.file_starts[file_name])
        return index if index < self.block_count else None


def _toc_chapters(book: epub.EpubBook, locator: _Locator, options: DocumentOptions) -> list[Chapter]:
    chapters: list[Chapter] = []
    for title, href, depth, children in _toc_entries(book.toc):
        title = clean_text(title)
        if not title or depth > options.chapter_levels:
            continue
        index = locator.index(href, children)
        if index is not None:
            chapter = Chapter(title, index, depth)
            if chapter not in chapters:
                chapters.append(chapter)
    return sorted(chapters, key=lambda chapter: chapter.block_index)  # stable: TOC order within a block


def read_epub(data: bytes, name: str, options: DocumentOptions) -> Document:
    """An EPUB's linear spine documents in order; its title is the book's DC title, else the first heading."""
    book = _open_book(data, name)
    collector = BlockCollector(options)
    file_starts: dict[str, int] = {}
    anchors: dict[tuple[str, str], int] = {}
    for idref, linear in book.spine:
        item = book.get_item_with_id(idref)
        # The nav document is the TOC itself; non-linear items (pop-up notes, answers) are not read in sequence.
        if item is None or isinstance(item, epub.EpubNav) or linear == "no" or item.media_type not in _XHTML_TYPES:
            continue
        file_starts[item.file_name] = len(collector.blocks)
        walker = HtmlWalker(collector)
        walker.walk_document(parse_html(item.content))
        anchors.update(((item.file_name, anchor), index) for anchor, index in walker.anchors.items())
    locator = _Locator(file_starts, anchors, len(collector.blocks))
    chapters = _toc_chapters(book, locator, options) or collector.heading_chapters
    titles = book.get_metadata("DC", "title")
    title = clean_text(titles[0][0]) if titles and titles[0][0] else ""
    return Document(format="epub", blocks=collector.blocks, chapters=chapters, title=title or collector.first_heading)
