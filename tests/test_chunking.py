"""Chunking properties: no chunk over the limit, nothing lost, order kept, paragraphs respected."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.text.chunking import plan_chunks, split_paragraphs
from tasks.text.intake import normalise_text

_WHITESPACE = re.compile(r"\s+")

words = st.sampled_from(
    [
        "Hello",
        "world",
        "Dr.",
        "Smith",
        "3.5",
        "miles",
        "你好",
        "世界",
        "今天天气很好",
        "東京",
        "カタカナ",
        "x" * 30,
        "Übermäßig",
        "naïve",
        "🙂",
        "e.g.",
        "a",
        "supercalifragilistic",
    ]
)
punctuation = st.sampled_from([".", "!", "?", ",", ";", ":", "。", "！", "？", "；", "…", "，", "、", ""])
token = st.tuples(words, punctuation, st.sampled_from([" ", "", "  ", "\n", "\n\n", " \n \n"])).map("".join)
documents = st.lists(token, min_size=1, max_size=120).map("".join)


def _squash(text: str) -> str:
    return _WHITESPACE.sub("", text)


@settings(max_examples=300, deadline=None)
@given(documents, st.integers(min_value=1, max_value=200))
def test_chunks_never_exceed_the_limit_and_lose_nothing(document, limit):
    text = normalise_text(document)
    chunks = plan_chunks(text, limit)
    assert all(1 <= len(chunk.text) <= limit for chunk in chunks)
    assert _squash("".join(chunk.text for chunk in chunks)) == _squash(text)
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))


@settings(max_examples=200, deadline=None)
@given(documents, st.integers(min_value=20, max_value=400))
def test_chunks_end_every_paragraph_and_never_cross_one(document, limit):
    text = normalise_text(document)
    chunks = plan_chunks(text, limit)
    paragraphs = split_paragraphs(text)
    assert sum(chunk.paragraph_end for chunk in chunks) == len(paragraphs)
    rebuilt, current = [], ""
    for chunk in chunks:
        current += chunk.text
        if chunk.paragraph_end:
            rebuilt.append(_squash(current))
            current = ""
    assert rebuilt == [_squash(p) for p in paragraphs]


def test_sentences_are_kept_whole_when_they_fit():
    text = "Dr. Smith went to Washington. He said it was 3.5 miles away! Was it? Yes."
    chunks = plan_chunks(text, 40)
    assert [c.text for c in chunks] == [
        "Dr. Smith went to Washington.",
        "He said it was 3.5 miles away! Was it?",
        "Yes.",
    ]


def test_chinese_sentences_split_at_chinese_punctuation():
    text = "今天天气很好。我们去公园散步吧！你觉得怎么样？好的；那就走吧。"
    chunks = plan_chunks(text, 10)
    assert [c.text for c in chunks] == ["今天天气很好。", "我们去公园散步吧！", "你觉得怎么样？", "好的；那就走吧。"]


def test_an_oversize_sentence_is_cut_at_clauses_then_words_then_characters():
    clauses = "first clause, second clause; third clause: and the end."
    assert [c.text for c in plan_chunks(clauses, 16)] == [
        "first clause,",
        "second clause;",
        "third clause:",
        "and the end.",
    ]
    assert [c.text for c in plan_chunks("one two three four five six", 9)] == ["one two", "three", "four five", "six"]
    no_spaces = "今天天气很好我们去公园散步吧你觉得怎么样"
    assert [c.text for c in plan_chunks(no_spaces, 8)] == ["今天天气很好我们", "去公园散步吧你觉", "得怎么样"]


def test_mixed_scripts_keep_order():
    text = "Hello world. 你好，世界。Mixed text here! 東京は大きい。"
    chunks = plan_chunks(text, 15)
    assert _squash("".join(c.text for c in chunks)) == _squash(text)
    assert all(len(c.text) <= 15 for c in chunks)


def test_normalise_keeps_paragraphs_and_folds_other_whitespace():
    raw = "\ufeffTitle\r\n\r\n  First   line\nsame paragraph.\t Tab.\n\n\n\nSecond."
    assert normalise_text(raw) == "Title\n\nFirst line same paragraph. Tab.\n\nSecond."
