"""Document intake by format: what each kind of source gives to speak, and what it must never give."""

from __future__ import annotations

import io
import string
import unicodedata

import pytest
from ebooklib import epub
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.errors import NarrationInputError
from tasks.text.documents import (
    Block,
    Chapter,
    DocumentOptions,
    decode_text,
    detect_format,
    document_from_text,
    read_document,
)

MARKUP = ("#", "*", "`", "](", "http", "|", "<", ">", "[", "~~")

GUIDE_MD = """\
---
title: "The Narration Guide"
tags: [audio, speech]
---
[![build](https://img.shields.io/badge/build-passing-green.svg)](https://ci.example.com/job/1) [![pypi](https://img.shields.io/pypi/v/narrate.svg)](https://pypi.org/project/narrate/)

# Getting *started*

Read the [manual](https://docs.example.com/guide) or visit https://github.com/example/narrate. Run `narrate` now.<!-- not for listeners -->
Mirrors live at www.example.org/mirror and <https://www.python.org/about/>.

---

## The **second** part

Speed matters[^speed].

```python
print("never spoken")
```

| setting | value |
|---------|-------|
| speed   | 1.2   |
| voice   | en-gb |

- first item
- second item!
  - nested item
    1. deeper still
- [ ] a ~~struck~~ task

> A quoted line
> that continues.

...

### Small print

[^speed]: This footnote is not spoken.

***
"""

GUIDE_BLOCKS = [
    ("Getting started", "heading", 1),
    (
        "Read the manual or visit github.com. Run narrate now. Mirrors live at example.org and python.org.",
        "paragraph",
        0,
    ),
    ("The second part", "heading", 2),
    ("Speed matters.", "paragraph", 0),
    ("first item.", "list_item", 1),
    ("second item!", "list_item", 1),
    ("nested item.", "list_item", 2),
    ("deeper still.", "list_item", 3),
    ("a struck task.", "list_item", 1),
    ("A quoted line that continues.", "quote", 0),
    ("Small print", "heading", 3),
]


def _triples(document) -> list[tuple[str, str, int]]:
    return [(block.text, block.kind, block.level) for block in document.blocks]


def _assert_no_markup(document) -> None:
    for block in document.blocks:
        assert not any(mark in block.text for mark in MARKUP), block.text
        assert block.text == " ".join(block.text.split()), block.text


def test_markdown_speaks_prose_and_nothing_of_its_markup():
    document = document_from_text(GUIDE_MD, "md")
    assert document.format == "markdown"
    assert _triples(document) == GUIDE_BLOCKS
    assert document.title == "The Narration Guide"  # front matter wins over the first heading
    assert document.chapters == [Chapter("Getting started", 0, 1), Chapter("The second part", 2, 2)]
    assert document.cues == []
    _assert_no_markup(document)
    assert document.spoken_text() == "\n\n".join(text for text, _, _ in GUIDE_BLOCKS)


def test_markdown_tables_are_read_only_when_asked_and_chapter_levels_are_honoured():
    document = document_from_text(GUIDE_MD, "markdown", DocumentOptions(chapter_levels=3, read_tables=True))
    rows = [(block.text, block.kind) for block in document.blocks if block.kind == "table_row"]
    assert rows == [("speed, 1.2.", "table_row"), ("voice, en-gb.", "table_row")]  # header row skipped
    assert [block.text for block in document.blocks if block.kind != "table_row"] == [t for t, _, _ in GUIDE_BLOCKS]
    assert [(chapter.title, chapter.level) for chapter in document.chapters] == [
        ("Getting started", 1),
        ("The second part", 2),
        ("Small print", 3),
    ]
    for chapter in document.chapters:  # every chapter starts at its own heading
        assert document.blocks[chapter.block_index] == Block(chapter.title, "heading", chapter.level)
    _assert_no_markup(document)
    assert document_from_text(GUIDE_MD, "md", DocumentOptions(chapter_levels=0)).chapters == []


def test_readme_badges_and_html_blocks_give_nothing():
    readme = """\
<!-- badges -->
[![CI](https://github.com/o/r/actions/workflows/ci.yml/badge.svg)](https://github.com/o/r/actions) [![PyPI](https://img.shields.io/pypi/v/r.svg)](https://pypi.org/project/r/)

<p align="center"><img src="logo.png" alt="logo"></p>

# r

A tool for narration. Install it with `pip install r`.

## Install

```sh
pip install r
```

## Usage

See the [documentation](https://r.readthedocs.io/en/latest/) for details: <https://r.readthedocs.io>.

## License

MIT
"""
    document = read_document(readme.encode(), "README.md")
    assert [block.text for block in document.blocks] == [
        "r",
        "A tool for narration. Install it with pip install r.",
        "Install",
        "Usage",
        "See the documentation for details: r.readthedocs.io.",
        "License",
        "MIT",
    ]
    assert document.title == "r"  # no front matter: the first heading
    assert [(c.title, c.block_index, c.level) for c in document.chapters] == [
        ("r", 0, 1),
        ("Install", 2, 2),
        ("Usage", 3, 2),
        ("License", 5, 2),
    ]
    _assert_no_markup(document)


PAGE_HTML = """<!doctype html>
<html><head><title> The  Page </title><style>p { color: red }</style><script>var spoken = false;</script></head>
<body>
<header><a href="/">Home</a> | <a href="/blog">Blog</a></header>
<nav><ul><li><a href="/a">Menu entry</a></li></ul></nav>
<div role="navigation">Skip to content</div>
<main><article>
<h1>Main <em>title</em></h1>
Loose text in the article.
<p>First paragraph with <a href="https://example.com/x">a link</a>, <code>code</code> and <a href="https://www.python.org/doc/">https://www.python.org/doc/</a>.</p>
<ul><li>one<ul><li>nested</li></ul></li><li><p>two</p></li></ul>
<blockquote><p>Quoted words.</p></blockquote>
<figure><img src="chart.png" alt="chart"><figcaption>A caption</figcaption></figure>
<pre>print("never spoken")</pre>
<noscript>Enable JavaScript</noscript>
<aside>Related posts</aside>
<table><thead><tr><th>Name</th><th>Value</th></tr></thead><tbody><tr><td>speed</td><td>1<br>2</td></tr></tbody></table>
<h2 id="second">Second &amp; last</h2>
<div>Div text <span>in a span</span></div>
<dl><dt>Term</dt><dd>Definition</dd></dl>
<!-- a comment -->
<h3>Minor</h3>
</article></main>
<footer>Copyright 2024</footer>
</body></html>"""

PAGE_BLOCKS = [
    ("Main title", "heading", 1),
    ("Loose text in the article.", "paragraph", 0),
    ("First paragraph with a link, code and python.org.", "paragraph", 0),
    ("one.", "list_item", 1),
    ("nested.", "list_item", 2),
    ("two.", "list_item", 1),
    ("Quoted words.", "quote", 0),
    ("A caption", "paragraph", 0),
    ("Second & last", "heading", 2),
    ("Div text in a span", "paragraph", 0),
    ("Term", "paragraph", 0),
    ("Definition", "paragraph", 0),
    ("Minor", "heading", 3),
]


def test_html_drops_page_chrome_and_code_and_keeps_the_reading_structure():
    document = read_document(PAGE_HTML.encode(), "https://example.com/page.html?utm=1")
    assert document.format == "html"
    assert _triples(document) == PAGE_BLOCKS
    assert document.title == "The Page"
    assert document.chapters == [Chapter("Main title", 0, 1), Chapter("Second & last", 8, 2)]
    _assert_no_markup(document)

    with_tables = document_from_text(PAGE_HTML, "htm", DocumentOptions(read_tables=True))
    assert with_tables.blocks[8] == Block("speed, 1 2.", "table_row")
    assert [b for b in with_tables.blocks if b.kind != "table_row"] == document.blocks


def test_html_without_title_takes_the_first_heading():
    document = document_from_text("<h2>Only <b>heading</b></h2><p>Text</p>", "html")
    assert document.title == "Only heading"
    assert [block.text for block in document.blocks] == ["Only heading", "Text"]


def _epub_bytes(toc: bool) -> bytes:
    book = epub.EpubBook()
    book.set_identifier("narration-test-book")
    book.set_title("A Small Book")
    book.set_language("en")
    one = epub.EpubHtml(title="One", file_name="text/one.xhtml", lang="en")
    one.content = (
        "<h1>Chapter One</h1><p>The first <em>chapter</em> begins.</p>"
        "<h2 id='later'>Later on</h2><p>The first chapter goes on.</p>"
    )
    two = epub.EpubHtml(title="Two", file_name="text/two.xhtml", lang="en")
    two.content = "<h1>Chapter Two</h1><p>The second chapter.</p><nav><p>not spoken</p></nav>"
    three = epub.EpubHtml(title="Three", file_name="text/three.xhtml", lang="en")
    three.content = "<h1>Chapter Three</h1><p>The third chapter.</p>"
    for item in (one, two, three):
        book.add_item(item)
    if toc:
        book.toc = [
            epub.Link("text/one.xhtml", "One", "one"),
            epub.Link("text/one.xhtml#later", "One, later", "later"),
            (
                epub.Section("Part Two", href="text/two.xhtml"),
                [epub.Link("text/three.xhtml", "Three, within part two", "three")],
            ),
        ]
    else:
        book.toc = []
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", one, two, three]
    buffer = io.BytesIO()
    epub.write_epub(buffer, book)
    return buffer.getvalue()


def test_epub_reads_the_spine_in_order_with_chapters_from_the_toc():
    document = read_document(_epub_bytes(toc=True), "books/small.epub")
    assert document.format == "epub"
    assert document.title == "A Small Book"
    assert [block.text for block in document.blocks] == [
        "Chapter One",
        "The first chapter begins.",
        "Later on",
        "The first chapter goes on.",
        "Chapter Two",
        "The second chapter.",
        "Chapter Three",
        "The third chapter.",
    ]
    assert document.chapters == [
        Chapter("One", 0, 1),
        Chapter("One, later", 2, 1),  # the anchor's block, not the file's first
        Chapter("Part Two", 4, 1),
        Chapter("Three, within part two", 6, 2),  # nested entry
    ]
    only_top = read_document(_epub_bytes(toc=True), "small.epub", options=DocumentOptions(chapter_levels=1))
    assert [chapter.title for chapter in only_top.chapters] == ["One", "One, later", "Part Two"]


def test_epub_without_a_toc_falls_back_to_headings_and_garbage_is_refused():
    document = read_document(_epub_bytes(toc=False), "small.epub")
    assert [(c.title, c.block_index, c.level) for c in document.chapters] == [
        ("Chapter One", 0, 1),
        ("Later on", 2, 2),
        ("Chapter Two", 4, 1),
        ("Chapter Three", 6, 1),
    ]
    with pytest.raises(NarrationInputError) as refused:
        read_document(b"PK\x03\x04 not really a zip", "broken.epub")
    assert refused.value.field == "source" and "broken.epub" in str(refused.value)


SRT = """\
1
00:00:01,000 --> 00:00:02,000
Hello <i>there</i>,
my friend.

2
00:00:02,500 --> 00:00:03,500
1999

3
00:00:06,000 --> 00:00:07,000
{\\an8}After a pause.
"""

VTT = """\
WEBVTT - a title

STYLE
::cue { color: yellow }

NOTE This note is
for editors only

REGION
id:left
width:40%

intro
00:00:01.000 --> 00:00:02.000 align:start
<v Ann>Hello <b>there</b>,</v>
my friend &amp; guest.

NOTE a note between cues

00:00:02.500 --> 00:00:03.500
1999

00:00:06.000 --> 00:00:07.000
After a pause.
"""


@pytest.mark.parametrize(
    ("source", "name", "first"),
    [(SRT, "talk.srt", "Hello there, my friend."), (VTT, "talk.vtt", "Hello there, my friend & guest.")],
)
def test_subtitles_speak_cue_text_only_and_group_cues_by_pauses(source, name, first):
    document = read_document(source.encode(), name)
    assert document.format == name[-3:]
    assert [(cue.start_seconds, cue.end_seconds, cue.text) for cue in document.cues] == [
        (1.0, 2.0, first),
        (2.5, 3.5, "1999"),  # a numeric line is a cue, not an index
        (6.0, 7.0, "After a pause."),
    ]
    # 0.5 s between the first two cues joins them; 2.5 s before the third starts a new block
    assert document.blocks == [Block(f"{first} 1999", "cue_group"), Block("After a pause.", "cue_group")]
    spoken = document.spoken_text()
    for silent in ("NOTE", "STYLE", "REGION", "color", "editors", "width", "intro", "-->", "<", "{"):
        assert silent not in spoken


def test_long_runs_of_cues_are_cut_at_cue_boundaries():
    sentences = [f"Sentence number {index} is here to make a long run of speech without pauses." for index in range(40)]
    lines = ["WEBVTT", ""]
    for index, sentence in enumerate(sentences):
        lines += [f"00:00:{index:02d}.000 --> 00:00:{index:02d}.900", sentence, ""]
    document = read_document("\n".join(lines).encode(), "long.vtt")
    assert len(document.blocks) > 1
    assert all(len(block.text) <= 1000 for block in document.blocks)
    assert " ".join(block.text for block in document.blocks) == " ".join(sentences)  # cut only between cues


@pytest.mark.parametrize(
    ("name", "input_format", "expected"),
    [
        ("notes.txt", None, "text"),
        ("NOTES.TXT", None, "text"),
        ("README", None, "text"),
        (None, None, "text"),
        ("guide.md", None, "markdown"),
        ("guide.markdown", None, "markdown"),
        ("s3://bucket/page.HTML", None, "html"),
        ("https://example.com/page.htm?x=1.pdf", None, "html"),
        ("book.epub", None, "epub"),
        ("talk.srt", None, "srt"),
        ("talk.vtt", None, "vtt"),
        ("report.pdf", "txt", "text"),  # explicit wins
        ("notes.txt", "Markdown", "markdown"),
        (None, "htm", "html"),
        (None, ".md", "markdown"),
    ],
)
def test_detect_format(name, input_format, expected):
    assert detect_format(name, input_format) == expected


@pytest.mark.parametrize("name", ["report.pdf", "letter.docx", "photo.PNG", "archive.tar.gz"])
def test_unsupported_files_are_refused_naming_file_extension_and_formats(name):
    with pytest.raises(NarrationInputError) as refused:
        read_document(b"%PDF-1.7 whatever", name)
    message = str(refused.value)
    assert refused.value.field == "source"
    assert name in message and name.rsplit(".", 1)[1].lower() in message
    for supported in ("markdown", "html", "epub", "srt", "vtt", ".txt"):
        assert supported in message


def test_a_bad_input_format_names_its_field():
    with pytest.raises(NarrationInputError) as refused:
        detect_format("a.md", "pdf")
    assert refused.value.field == "input_format" and "'pdf'" in str(refused.value)


TEXT = "Größe café 你好 — line one\nline two\n\nSecond paragraph 𝄞."


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_text_encodings_with_a_bom_are_decoded(encoding):
    data = TEXT.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):  # these codecs write no BOM of their own
        data = "\ufeff".encode(encoding) + data
    assert decode_text(data, "notes.txt") == TEXT
    document = read_document(data, "notes.txt")
    assert [block.text for block in document.blocks] == [
        "Größe café 你好 — line one line two",
        "Second paragraph 𝄞.",
    ]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", ("binary", "byte 8")),
        ("no BOM".encode("utf-16-le"), ("binary", "byte 1", "byte-order mark")),
        (b"caf\xe9 au lait", ("not valid UTF-8", "byte 3")),
        (b"\xef\xbb\xbfok \xff", ("not valid UTF-8", "byte 6")),
        (b"\xff\xfeA", ("not valid UTF-16 LE", "byte 2")),
    ],
)
def test_binary_and_misencoded_files_are_refused_saying_where(data, words):
    with pytest.raises(NarrationInputError) as refused:
        read_document(data, "upload.txt")
    assert refused.value.field == "source"
    for word in ("upload.txt", *words):
        assert word in str(refused.value)


def test_plain_text_keeps_paragraphs_as_intake_did():
    document = document_from_text("\ufeffOne\r\ntwo  \t three\n \n\n...\n\nLast\u00a0one\n")
    assert document.format == "text"
    assert _triples(document) == [
        ("One two three", "paragraph", 0),
        ("...", "paragraph", 0),
        ("Last one", "paragraph", 0),
    ]
    assert document.chapters == [] and document.title is None
    with pytest.raises(NarrationInputError) as refused:
        document_from_text("text", "epub")
    assert refused.value.field == "input_format"


def test_blocks_refuse_what_could_not_be_spoken():
    with pytest.raises(ValueError):
        Block("", "paragraph")
    with pytest.raises(ValueError):
        Block(" padded ", "paragraph")
    with pytest.raises(ValueError):
        Block("text", "sidebar")


WORDS = st.text(alphabet=st.characters(categories=("Lu", "Ll", "Lo")), min_size=1, max_size=12)
PIECES = st.lists(
    st.tuples(
        st.sampled_from(["paragraph", "heading", "list_item"]),
        st.integers(1, 6),
        st.lists(WORDS, min_size=1, max_size=8),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=50, deadline=None)
@given(PIECES)
def test_markdown_of_words_gives_back_every_word_in_order_and_no_markup(pieces):
    lines = []
    for kind, level, words in pieces:
        prefix = {"paragraph": "", "heading": "#" * level + " ", "list_item": "- "}[kind]
        lines.append(prefix + " ".join(words))
    document = document_from_text("\n\n".join(lines) + "\n", "markdown")

    spoken = [word for block in document.blocks for word in block.text.rstrip(".。").split(" ")]
    assert spoken == [unicodedata.normalize("NFC", word) for _, _, words in pieces for word in words]
    assert [block.kind for block in document.blocks] == [kind for kind, _, _ in pieces]
    for block in document.blocks:
        assert not set(block.text) & set(string.punctuation.replace(".", "")), block.text
    headings = [(index, level) for index, (kind, level, _) in enumerate(pieces) if kind == "heading"]
    assert [(c.block_index, c.level) for c in document.chapters] == [(i, level) for i, level in headings if level <= 2]


def test_a_folder_runs_share_reads_only_the_documents_it_was_given(tmp_path, caplog):
    from tasks.text.sources import document_urls, scan_documents

    folder, elsewhere = tmp_path / "docs", tmp_path / "private"
    folder.mkdir()
    elsewhere.mkdir()
    for name in ("alpha.txt", "beta.md", "gamma.txt"):
        (folder / name).write_text(f"{name} is a document.", encoding="utf-8")
    (elsewhere / "secret.txt").write_text("Never read by a run over the docs folder.", encoding="utf-8")
    alpha, beta, gamma = document_urls(str(folder))
    outside = document_urls(str(elsewhere))[0]

    given = scan_documents(str(folder), only=[beta, outside, f"{gamma}.gone"])
    assert [document.url for document in given] == [beta]
    assert "secret.txt is not a document under" in caplog.text and ".gone is not a document under" in caplog.text
    assert [document.url for document in scan_documents(str(folder), only=[])] == [alpha, beta, gamma]
