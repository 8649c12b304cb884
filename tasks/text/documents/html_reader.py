"""HTML through selectolax (lexbor): page chrome, scripts and code dropped, blocks from the reading structure."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser, LexborNode

from tasks.errors import NarrationInputError

from .collector import BlockCollector
from .model import Document, DocumentOptions
from .spoken import clean_text, is_url, spoken_url

# Removed before walking: never prose, or navigation repeated on every page (header/footer only as page chrome).
_DROPPED = (
    "script, style, noscript, template, nav, [role=navigation], aside, pre, figure > img, body > header, body > footer"
)
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Elements that break the flow of text: their text is never joined to the text around them.
_BREAKING = frozenset(
    {
        "address", "article", "body", "caption", "center", "details", "dialog", "div", "dl", "fieldset",
        "figcaption", "figure", "footer", "form", "header", "hgroup", "html", "main", "menu", "ol", "section",
        "summary", "ul", "hr", "tbody", "thead", "tfoot", "tr", "td", "th",
    }
)  # fmt: skip
_LISTS = frozenset({"ul", "ol", "menu"})
_SILENT = frozenset({"img", "svg", "math", "video", "audio", "iframe", "object", "canvas", "input", "select"})


def parse_html(html: str | bytes) -> LexborHTMLParser:
    """A parsed page with everything that is never spoken already removed (bytes: encoding from BOM or meta)."""
    tree = LexborHTMLParser(html, encoding=True) if isinstance(html, bytes) else LexborHTMLParser(html)
    dropped = tree.css(_DROPPED)
    ids = {node.mem_id for node in dropped}
    for node in dropped:
        # a node inside one already removed went with it: decomposing it again would touch freed memory
        if not any(parent.mem_id in ids for parent in _ancestors(node)):
            node.decompose()
    return tree


def _ancestors(node: LexborNode):
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def _cell_text(node: LexborNode) -> str:
    """All text under a table cell, with a space wherever the markup breaks the line."""
    parts: list[str] = []
    for child in node.iter(include_text=True):
        if child.is_text_node:
            parts.append(child.text_content or "")
        elif child.tag == "br" or child.tag in _BREAKING or child.tag in ("p", "li", "blockquote", "dd", "dt"):
            parts.extend((" ", _cell_text(child), " "))
        elif child.is_element_node and child.tag not in _SILENT:
            parts.append(_cell_text(child))
    return "".join(parts)


class HtmlWalker:
    """Turns a page into blocks; records at which block each element `id` appears (EPUB TOC anchors)."""

    def __init__(self, collector: BlockCollector) -> None:
        self.collector = collector
        self.anchors: dict[str, int] = {}
        self._parts: list[str] = []
        self._kind = "paragraph"
        self._level = 0
        self._list_depth = 0

    def walk_document(self, tree: LexborHTMLParser) -> None:
        root = tree.body or tree.root
        if root is None:
            return
        try:
            self._walk(root)
        except RecursionError:
            raise NarrationInputError("source", "the HTML is nested too deeply to read") from None
        self._flush()

    def _flush(self) -> None:
        if self._parts:
            self.collector.add("".join(self._parts), self._kind, self._level)
            self._parts = []

    def _block(self, node: LexborNode, kind: str, level: int = 0) -> None:
        """Text inside `node` becomes blocks of `kind`; text before and after it belongs to other blocks."""
        self._flush()
        saved = self._kind, self._level
        self._kind, self._level = kind, level
        self._walk(node)
        self._flush()
        self._kind, self._level = saved

    def _walk(self, node: LexborNode) -> None:
        for child in node.iter(include_text=True):
            if child.is_text_node:
                self._parts.append(child.text_content or "")
                continue
            if not child.is_element_node:
                continue  # comments, processing instructions
            tag = child.tag
            anchor = child.attributes.get("id")
            if anchor:
                self.anchors.setdefault(anchor, len(self.collector.blocks))
            if tag in _HEADINGS:
                self._block(child, "heading", _HEADINGS[tag])
            elif tag == "li":
                self._block(child, "list_item", self._list_depth)
            elif tag == "blockquote":
                self._block(child, "quote")
            elif tag in ("p", "dd", "dt"):
                # a paragraph inside a list item or quote is part of it
                self._block(child, self._kind if self._kind in ("list_item", "quote") else "paragraph", self._level)
            elif tag == "table":
                self._flush()
                if self.collector.options.read_tables:
                    self._table(child)
            elif tag in _LISTS:
                self._list_depth += 1
                self._block(child, self._kind, self._level)
                self._list_depth -= 1
            elif tag in _BREAKING:
                self._block(child, self._kind, self._level)
            elif tag == "br":
                self._parts.append(" ")
            elif tag == "a":
                start = len(self._parts)
                self._walk(child)
                text = "".join(self._parts[start:])
                if is_url(text):  # a link whose text is its URL: say the host (the href itself never)
                    self._parts[start:] = [spoken_url(text)]
            elif tag not in _SILENT:
                self._walk(child)  # inline: em, strong, code, span...

    def _table(self, table: LexborNode) -> None:
        """One block per body row, cells joined with commas; header rows (in thead, or all th) are skipped."""
        for row in table.css("tr"):
            if row.parent is not None and row.parent.tag == "thead":
                continue
            cells = [cell for cell in row.iter() if cell.tag in ("td", "th")]
            if not cells or all(cell.tag == "th" for cell in cells):
                continue
            texts = (clean_text(_cell_text(cell)) for cell in cells)
            self.collector.add(", ".join(text for text in texts if text), "table_row")


def read_html(html: str, options: DocumentOptions) -> Document:
    """An HTML page; its title is `<title>`, else the first heading."""
    tree = parse_html(html)
    collector = BlockCollector(options)
    HtmlWalker(collector).walk_document(tree)
    title_node = tree.css_first("head > title")
    title = clean_text(title_node.text()) if title_node is not None else ""
    return Document(
        format="html",
        blocks=collector.blocks,
        chapters=collector.heading_chapters,
        title=title or collector.first_heading,
    )
