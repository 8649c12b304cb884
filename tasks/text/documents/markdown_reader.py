"""Markdown through markdown-it-py's tokens: prose is spoken; markup, URLs, code, HTML and notes are not."""

from __future__ import annotations

import threading

import yaml
from linkify_it import LinkifyIt
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

from .collector import BlockCollector
from .model import Document, DocumentOptions
from .spoken import clean_text, is_url, spoken_url

# LinkifyIt keeps state while matching, so each thread gets its own.
_local = threading.local()


def _parser() -> MarkdownIt:
    parser = getattr(_local, "parser", None)
    if parser is None:
        # GitHub's strikethrough and task lists too, so no '~~' or '[ ]' is spoken (the checkbox is inline HTML)
        parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
        parser.use(front_matter_plugin).use(footnote_plugin).use(tasklists_plugin)
        _local.parser = parser
    return parser


def _linkify() -> LinkifyIt:
    linkify = getattr(_local, "linkify", None)
    if linkify is None:
        linkify = _local.linkify = LinkifyIt(options={"fuzzy_email": False})
    return linkify


def _speak_bare_urls(text: str) -> str:
    """Bare http(s)/www URLs in prose become their host names ('see https://github.com/x/y.' -> 'see github.com.').

    Done here rather than by markdown-it's linkify rule, which tests every text token and doubled the parse time;
    only text that can hold such a URL is given to linkify-it (which knows where a URL ends).
    """
    lowered = text.lower()
    if "://" not in lowered and "www." not in lowered:
        return text
    matches = _linkify().match(text) or []
    parts: list[str] = []
    position = 0
    for match in matches:
        if is_url(match.text):  # linkify also finds 'README.md' and e-mail addresses: those stay as written
            parts.extend((text[position : match.index], spoken_url(match.text)))
            position = match.last_index
    parts.append(text[position:])
    return "".join(parts)


def _inline_text(tokens: list[Token]) -> str:
    """The words of an inline run: emphasis, code and link text kept; link targets, images, HTML and notes dropped."""
    parts: list[str] = []
    link_starts: list[int] = []
    for token in tokens:
        kind = token.type
        if kind == "text":
            parts.append(_speak_bare_urls(token.content))
        elif kind == "code_inline":
            parts.append(token.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif kind == "link_open":
            link_starts.append(len(parts))
        elif kind == "link_close" and link_starts:
            start = link_starts.pop()
            text = "".join(parts[start:])
            if is_url(text):  # an autolink, or a link whose text is its URL: the host name only
                parts[start:] = [spoken_url(text)]
        # images (badges too, alt text included), html_inline (comments too), footnote_ref: nothing
    return "".join(parts)


def _front_matter_title(content: str) -> str | None:
    try:
        data = yaml.safe_load(content)
    except (yaml.YAMLError, ValueError):
        return None  # broken front matter is not spoken either way; it just gives no title
    title = data.get("title") if isinstance(data, dict) else None
    if title is None:
        return None
    return clean_text(str(title)) or None


class _MarkdownWalker:
    """Walks the flat token stream, keeping the open containers (quotes, lists, list items) on a stack."""

    def __init__(self, options: DocumentOptions) -> None:
        self.collector = BlockCollector(options)
        self.options = options
        self.front_matter_title: str | None = None
        # ("quote", 0), ("list", depth) or ("item", depth); an open item gathers its own paragraphs in `item_texts`
        self.stack: list[tuple[str, int]] = []
        self.item_texts: list[list[str]] = []

    def _depth(self) -> int:
        return next((depth for kind, depth in reversed(self.stack) if kind == "list"), 0)

    def _flush_item(self) -> None:
        """An item's paragraphs so far make one block; what follows (a nested list...) makes its own."""
        if self.stack and self.stack[-1][0] == "item" and self.item_texts[-1]:
            self.collector.add(" ".join(self.item_texts[-1]), "list_item", self.stack[-1][1])
            self.item_texts[-1] = []

    def walk(self, tokens: list[Token]) -> None:
        index = 0
        while index < len(tokens):
            index = self._token(tokens, index)

    def _token(self, tokens: list[Token], index: int) -> int:
        """Handle the token at `index`; return the index of the next one to handle."""
        token = tokens[index]
        kind = token.type
        if kind == "paragraph_open":
            text = _inline_text(tokens[index + 1].children or [])
            container = self.stack[-1][0] if self.stack else None
            if container == "item":
                self.item_texts[-1].append(text)
            else:
                self.collector.add(text, "quote" if container == "quote" else "paragraph")
            return index + 3  # paragraph_open, inline, paragraph_close
        if kind in ("paragraph_close", "inline"):
            return index + 1
        self._flush_item()
        if kind == "heading_open":
            self.collector.add(_inline_text(tokens[index + 1].children or []), "heading", int(token.tag[1:]))
            return index + 3
        if kind in ("bullet_list_open", "ordered_list_open"):
            self.stack.append(("list", self._depth() + 1))
        elif kind == "list_item_open":
            self.stack.append(("item", self._depth()))
            self.item_texts.append([])
        elif kind == "blockquote_open":
            self.stack.append(("quote", 0))
        elif kind in ("bullet_list_close", "ordered_list_close", "blockquote_close"):
            self.stack.pop()
        elif kind == "list_item_close":
            self.stack.pop()
            self.item_texts.pop()
        elif kind == "table_open":
            return self._table(tokens, index)
        elif kind == "footnote_block_open":
            return _after(tokens, index, "footnote_block_close")
        elif kind == "front_matter":
            self.front_matter_title = _front_matter_title(token.content)
        # fence, code_block, html_block, hr: never spoken
        return index + 1

    def _table(self, tokens: list[Token], index: int) -> int:
        """One block per body row, its cells joined with commas; the header row is not spoken."""
        end = _after(tokens, index, "table_close")
        if not self.options.read_tables:
            return end
        in_body = False
        cells: list[str] = []
        for token in tokens[index:end]:
            if token.type in ("tbody_open", "tbody_close"):
                in_body = token.type == "tbody_open"
            elif token.type == "tr_open":
                cells = []
            elif token.type == "inline":
                cells.append(clean_text(_inline_text(token.children or [])))
            elif token.type == "tr_close" and in_body:
                self.collector.add(", ".join(cell for cell in cells if cell), "table_row")
        return end


def _after(tokens: list[Token], index: int, closing: str) -> int:
    """The index just after the first `closing` token from `index` (these containers do not nest)."""
    while index < len(tokens) and tokens[index].type != closing:
        index += 1
    return index + 1


def read_markdown(text: str, options: DocumentOptions) -> Document:
    """A Markdown document; its title is the front matter's `title`, else the first heading."""
    walker = _MarkdownWalker(options)
    walker.walk(_parser().parse(text))
    collector = walker.collector
    return Document(
        format="markdown",
        blocks=collector.blocks,
        chapters=collector.heading_chapters,
        title=walker.front_matter_title or collector.first_heading,
    )
