"""The pronunciation lexicon: reading it (bad entries refused by line), finding words, respelling, SSML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.errors import NarrationInputError
from tasks.text.lexicon import (
    Entry,
    Lexicon,
    LexiconError,
    is_boundary,
    is_word_character,
    load_lexicon,
    respell,
    to_ssml,
)

EMPTY = Lexicon.of([])
# Enough examples to meet the edge cases (adjacent words, CJK neighbours, control characters), few enough for the fast tier.
PROPERTY = settings(deadline=None, max_examples=60)
YAML = """\
# spoken forms of this project's words
nginx: engine x
SQL: {say: sequel, ipa: ˈsiːkwəl}
C++: see plus plus
Node.js:
  say: node J S
你好: ni hao
no: number
"""
CSV = """\
written,say,ipa
你好,ni hao,
C++, see plus plus,
"SQL",sequel,ˈsiːkwəl
no,number,
Node.js,node J S,
nginx,engine x,
"""

# --- reading -------------------------------------------------------------------------------------------------


def test_yaml_and_csv_of_the_same_entries_are_the_same_lexicon_with_the_same_version():
    from_yaml, from_csv = load_lexicon(YAML.encode(), "words.yaml"), load_lexicon(CSV.encode(), "words.csv")
    assert dict(from_yaml.entries) == dict(from_csv.entries)
    assert from_yaml.entries["SQL"] == Entry("SQL", "sequel", "ˈsiːkwəl")
    assert from_yaml.entries["no"] == Entry("no", "number")  # a word, not YAML's boolean
    assert from_yaml.version == from_csv.version


@pytest.mark.parametrize(
    "edit",
    [
        ("nginx: engine x", "nginx: engine ex"),
        ("C++: see plus plus", "C++: {say: see plus plus, ipa: siː plʌs plʌs}"),
        ("no: number", "No: number"),
        ("no: number", ""),
    ],
)
def test_the_version_changes_with_any_change_of_sound(edit):
    before, after = edit
    assert before in YAML
    edited = load_lexicon(YAML.replace(before, after).encode(), "words.yaml")
    assert edited.version != load_lexicon(YAML.encode(), "words.yaml").version


def test_the_version_ignores_order_comments_and_quoting():
    lines = YAML.splitlines()
    reordered = "\n".join([lines[6], lines[2], '"nginx": "engine x"', *lines[3:6], lines[7]]) + "\n"
    assert load_lexicon(reordered.encode(), "w.yml").version == load_lexicon(YAML.encode(), "w.yaml").version


BAD_YAML = [
    # (lines, index of the line to be named, what the message says)
    (["nginx: engine x", "nginx: engine ex"], 1, "'nginx' is already given on line 2"),
    (["nginx: engine x", '"nginx": engine ex'], 1, "already given on line 2"),
    (["a: b", "SQL:"], 1, "'SQL' has no respelling"),
    (["a: b", "SQL: {ipa: ˈsiːkwəl}"], 1, "'SQL' has no respelling"),
    (["a: b", "SQL:", "  ipa: x", "  sya: sequel"], 3, "unknown key 'sya'"),
    (["a: b", "SQL: {say: [sequel]}"], 1, "say must be text"),
    (["a: b", "SQL: [sequel, S Q L]"], 1, "must map to a respelling"),
    (["a: b", "SQL: {say: sequel, ipa: ''}"], 1, "empty 'ipa'"),
    (["a: b", '"": nothing'], 1, "the written form is empty"),
    (["a: b", '" SQL": sequel'], 1, "begins or ends with white space"),
    (["a: b", "~: nothing"], 1, "a written form must be text"),
    (["a: b", "? [x, y]", ": xy"], 1, "a written form must be text"),
    (["a: b", 'SQL: "se\\x07quel"'], 1, "control character"),
    (["a: b", "SQL: sequel", "  nginx: engine x"], 2, "not valid YAML"),
    (["- nginx", "- SQL"], 0, "must be a mapping"),
]


@pytest.mark.parametrize(("lines", "bad", "message"), BAD_YAML)
def test_a_bad_yaml_entry_is_refused_naming_its_line(lines, bad, message):
    document = "# a comment first, so lines are not counted from the entries\n" + "\n".join(lines) + "\n"
    with pytest.raises(LexiconError, match=re.escape(message)) as refused:
        load_lexicon(document.encode(), "words.yaml")
    assert refused.value.line == bad + 2
    assert refused.value.field == "lexicon" and isinstance(refused.value, NarrationInputError)
    assert str(refused.value).startswith(f"lexicon: words.yaml line {bad + 2}: ")


BAD_CSV = [
    (["written,say,ipa", "nginx,engine x,", "nginx,engine ex,"], 2, "already given on line 2"),
    (["written,say,ipa", "nginx,engine x,", "SQL,,"], 2, "'SQL' has no respelling"),
    (["written,say,ipa", "nginx,engine x,", "SQL"], 2, "'SQL' has no respelling"),
    (["written,say,ipa", "nginx,engine x,", ",nothing,"], 2, "the written form is empty"),
    (["written,say,ipa", "nginx,engine x,", "SQL,sequel,ˈsiːkwəl,extra"], 2, "4 cells; the header has 3"),
    (["written,say,ipa", '"multi', 'line",one,', "SQL,,"], 3, "'SQL' has no respelling"),
    (["written,say", "nginx,engine x", "SQL,sequel,ˈsiːkwəl"], 2, "3 cells; the header has 2"),
    (["word,respelling", "nginx,engine x"], 0, "the header must be written,say,ipa"),
    (["written,say,ipa", "nginx,engine x,", 'SQL,"sequel'], 2, "not valid CSV"),
]


@pytest.mark.parametrize(("lines", "bad", "message"), BAD_CSV)
def test_a_bad_csv_row_is_refused_naming_its_line(lines, bad, message):
    with pytest.raises(LexiconError, match=re.escape(message)) as refused:
        load_lexicon(("\n".join(lines) + "\n").encode(), "words.csv")
    assert refused.value.line == bad + 1


def test_a_csv_row_spanning_lines_keeps_its_newline_and_later_rows_their_lines():
    lexicon = load_lexicon(b'written,say,ipa\n"two\nlines",one line,\n\nSQL,sequel,\n', "words.csv")
    assert lexicon.entries["two\nlines"].say == "one line" and lexicon.entries["SQL"].ipa is None


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"nginx: engine x\nSQL: s\xe9quel\n", "words.yaml", "words.yaml line 2: is not UTF-8 text"),
        (b"nginx: engine x\n", "words.txt", "must be a .yaml, .yml or .csv file"),
    ],
)
def test_files_that_are_not_lexicons_are_refused(data, name, message):
    with pytest.raises(LexiconError, match=re.escape(message)):
        load_lexicon(data, name)


@pytest.mark.parametrize(("data", "name"), [(b"", "e.yaml"), (b"# nothing yet\n", "e.yml"), (b"", "e.csv")])
def test_an_empty_file_is_an_empty_lexicon(data, name):
    assert load_lexicon(data, name).version == EMPTY.version


# --- matching ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "text", "found"),
    [
        (["nginx"], "nginx's config, (nginx) and 'nginx'", ["nginx", "nginx", "nginx"]),
        (["nginx"], "<nginx>&nginx&amp;", ["nginx", "nginx"]),
        (["nginx"], "nginxs unnginx nginx_x nginx2 Nginx", []),
        (["nginx"], "用nginx部署，nginx。", ["nginx", "nginx"]),
        (["SQL"], '"SQL" sql SQLite MySQL', ["SQL"]),
        (["C++", "C"], "C++, C. C# C+", ["C++", "C", "C", "C"]),
        (["Node.js"], "Node.js. Node.jsx node.js «Node.js»", ["Node.js", "Node.js"]),
        ([".NET"], "on .NET, ASP.NET", [".NET", ".NET"]),
        (["你好"], "你好世界，你们好", ["你好"]),
        (["好世"], "你好世界", ["好世"]),
        (["東京"], "東京都とうきょう", ["東京"]),
        (["café"], "café cafés", ["café"]),
        (["cafe\u0301"], "cafe\u0301 cafe\u0301s", ["cafe\u0301"]),
        (["cafe"], "cafe\u0301", []),  # the combining accent continues the word
        (["New York", "York City"], "New York City", ["York City"]),
        (["New York", "York City", "New"], "New York City", ["New", "York City"]),
        (["你好", "好世"], "你好世", ["你好"]),  # as long as each other: the earlier
        (["C", "C++"], "C++ CC++", ["C++"]),
    ],
)
def test_find_matches_whole_words_longest_first(written, text, found):
    lexicon = Lexicon.of(Entry(w, f"<{w}>") for w in written)
    matches = lexicon.find(text)
    assert [text[m.start : m.end] for m in matches] == found
    assert all(m.entry.written == text[m.start : m.end] for m in matches)


def test_entries_in_holds_only_what_a_chunk_uses():
    lexicon = load_lexicon(YAML.encode(), "words.yaml")
    chunks = ["Deploy nginx with C++.", "Query SQL, not MySQL or C.", "No entries here: no."]
    used = [lexicon.entries_in(chunk) for chunk in chunks]
    assert [sorted(u) for u in used] == [["C++", "nginx"], ["SQL"], ["no"]]
    edited = Lexicon.of([*(e for w, e in lexicon.entries.items() if w != "SQL"), Entry("SQL", "S Q L")])
    changed = [edited.entries_in(chunk) != before for chunk, before in zip(chunks, used, strict=True)]
    assert changed == [False, True, False]


# --- properties ----------------------------------------------------------------------------------------------

WORDS = ["nginx", "SQL", "C++", "C", "Node.js", "js", "你好", "好世", "世界", "New York", "York", "cafe\u0301", "_x"]
PIECES = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from([" ", ".", ",", "&", "<", ">", '"', "'", "s", "x", "世", "\n", "\r", "\u0301", "]]>"]),
    st.text(max_size=3),
)
TEXTS = st.lists(PIECES, max_size=25).map("".join)
HOSTILE = st.text(min_size=1, max_size=8).filter(str.strip)


SAYS = st.sampled_from(["engine x", "sequel", "see", "ni hao", "a b", "J S"])


@st.composite
def lexicons(draw, says=SAYS) -> Lexicon:
    written = draw(st.lists(st.sampled_from(WORDS), unique=True, max_size=len(WORDS)))
    return Lexicon.of(Entry(w, draw(says), draw(st.none() | says)) for w in written)


def occurrences(lexicon: Lexicon, text: str) -> set[tuple[int, int]]:
    """Every occurrence of every entry whose word-character edges lie on word boundaries, found the slow way."""
    found = set()
    for written in lexicon.entries:
        start = text.find(written)
        while start != -1:
            end = start + len(written)
            edges = ((start, written[0]), (end, written[-1]))
            if all(is_boundary(text, at) or not is_word_character(edge) for at, edge in edges):
                found.add((start, end))
            start = text.find(written, start + 1)
    return found


@PROPERTY
@given(lexicons(), TEXTS)
def test_matches_never_overlap_and_the_longest_of_overlapping_occurrences_wins(lexicon, text):
    matches = lexicon.find(text)
    spans = [(m.start, m.end) for m in matches]
    assert spans == sorted(spans)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))
    every = occurrences(lexicon, text)
    assert set(spans) <= every
    for start, end in every - set(spans):  # each one left out overlaps a chosen one at least as long
        assert any(s < end and start < e and e - s >= end - start for s, e in spans), (start, end, spans)


@PROPERTY
@given(TEXTS)
def test_respelling_with_an_empty_lexicon_is_the_identity(text):
    respelled = respell(text, EMPTY.find(text))
    assert respelled.text == text
    assert all(respelled.to_written(p) == p == respelled.to_written(p, end=True) for p in range(len(text) + 1))
    assert to_ssml(text, []) == to_ssml(text, EMPTY.find(text))


@PROPERTY
@given(lexicons(), TEXTS)
def test_positions_map_back_monotonically_onto_word_boundaries(lexicon, text):
    matches = lexicon.find(text)
    respelled = respell(text, matches)
    # Putting each written form back where its respelling is gives the written text again.
    restored, at = [], 0
    for piece, match in zip(respelled.offsets, matches, strict=True):
        restored += [respelled.text[at : piece.respelled_start], match.entry.written]
        at = piece.respelled_end
    assert "".join([*restored, respelled.text[at:]]) == text
    for end in (False, True):
        back = [respelled.to_written(p, end=end) for p in range(len(respelled.text) + 1)]
        assert back[0] == 0 and back[-1] == len(text)
        assert back == sorted(back)
        for p, q in enumerate(back):
            if is_boundary(respelled.text, p):
                assert is_boundary(text, q), (p, q)
    for piece in respelled.offsets:
        for p in range(piece.respelled_start + 1, piece.respelled_end):
            assert respelled.to_written(p) == piece.written_start
            assert respelled.to_written(p, end=True) == piece.written_end
    with pytest.raises(ValueError, match="outside the respelled text"):
        respelled.to_written(len(respelled.text) + 1)


def xml_safe(text: str) -> str:
    """What XML 1.0 can carry of a text: its forbidden characters become spaces."""

    def allowed(c: str) -> bool:
        n = ord(c)
        return c in "\t\n\r" or 0x20 <= n <= 0xD7FF or 0xE000 <= n <= 0xFFFD or n >= 0x10000

    return "".join(c if allowed(c) else " " for c in text)


def spoken_content(element: ET.Element) -> str:
    """An SSML element's text as spoken: a <sub> by its alias, a <phoneme> by its content."""
    parts = [element.text or ""]
    for child in element:
        parts.append(child.attrib["alias"] if child.tag == "sub" else spoken_content(child))
        parts.append(child.tail or "")
    return "".join(parts)


@PROPERTY
@given(lexicons(says=HOSTILE), st.one_of(TEXTS, st.text()))
def test_ssml_always_parses_and_speaks_the_respelled_text(lexicon, text):
    matches = lexicon.find(text)
    speak = ET.fromstring(f"<speak>{to_ssml(text, matches)}</speak>")
    assert spoken_content(speak) == xml_safe(respell(text, matches).text)
    elements = list(speak)
    assert len(elements) == len(matches)
    for element, match in zip(elements, matches, strict=True):
        if match.entry.ipa is not None:
            assert element.tag == "phoneme" and element.attrib == {"alphabet": "ipa", "ph": xml_safe(match.entry.ipa)}
        else:
            assert element.tag == "sub" and element.text == xml_safe(match.entry.written)


def test_ssml_of_a_known_sentence():
    lexicon = load_lexicon(YAML.encode(), "words.yaml")
    text = 'Run "nginx" & SQL <here>.'
    assert to_ssml(text, lexicon.find(text)) == (
        'Run "<sub alias="engine x">nginx</sub>" &amp; '
        '<phoneme alphabet="ipa" ph="ˈsiːkwəl">sequel</phoneme> &lt;here&gt;.'
    )


def test_ssml_takes_the_callers_escape_for_text_pieces():
    lexicon = Lexicon.of([Entry("nginx", "engine x")])
    text = "a nginx b"
    ssml = to_ssml(text, lexicon.find(text), escape=str.upper)
    assert ssml == 'A <sub alias="engine x">NGINX</sub> B'
