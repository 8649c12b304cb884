"""Chunking: no chunk over the limit, nothing lost, order kept, blocks respected, edits stay local."""

from __future__ import annotations

import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from blocks import LocalSpeech
from tasks.synthesis.planning import plan_for
from tasks.synthesis.providers import engine_for
from tasks.text.chunking import content_chunks, greedy_chunks, has_words
from tasks.text.documents import document_from_text

_WHITESPACE = re.compile(r"\s+")

words = st.sampled_from(
    ["Hello", "world", "Dr.", "Smith", "3.5", "miles", "你好", "世界", "今天天气很好", "東京", "カタカナ", "x" * 30,
     "Übermäßig", "naïve", "🙂", "e.g.", "a", "supercalifragilistic", "---", "…"]
)  # fmt: skip
punctuation = st.sampled_from([".", "!", "?", ",", ";", ":", "。", "！", "？", "；", "…", "，", "、", ""])
token = st.tuples(words, punctuation, st.sampled_from([" ", "", "  ", "\n"])).map("".join)
blocks_text = st.lists(token, min_size=1, max_size=120).map("".join)


def _spoken(text: str) -> str:
    """The characters a listener hears something of: letters and digits, in order."""
    return "".join(character for character in text if character.isalnum())


@settings(max_examples=300, deadline=None)
@given(blocks_text, st.integers(min_value=1, max_value=200))
def test_chunks_never_exceed_the_limit_lose_no_word_and_never_stand_wordless(text, limit):
    text = " ".join(text.split())
    for cut in (content_chunks, greedy_chunks):
        chunks = cut(text, limit)
        assert all(1 <= len(chunk) <= limit for chunk in chunks)
        assert _spoken("".join(chunks)) == _spoken(text)
    assert all(has_words(chunk) for chunk in content_chunks(text, limit))


@settings(max_examples=100, deadline=None)
@given(st.lists(blocks_text, min_size=1, max_size=6), st.integers(min_value=20, max_value=400))
def test_chunks_end_every_block_and_never_cross_one(paragraphs, limit):
    document = document_from_text("\n\n".join(paragraphs))
    engine = engine_for(LocalSpeech(chunk_characters=limit))
    chunks = plan_for(document, engine)
    spoken_blocks = [i for i, block in enumerate(document.blocks) if has_words(block.text)]
    assert [chunk.block for chunk in chunks if chunk.paragraph_end] == spoken_blocks
    for i in spoken_blocks:
        texts = [chunk.text for chunk in chunks if chunk.block == i]
        assert _spoken("".join(texts)) == _spoken(document.blocks[i].text)
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))


def _sentences(rng: random.Random, count: int) -> list[str]:
    vocabulary = "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega river stone cloud".split()
    return [
        " ".join(rng.choice(vocabulary) for _ in range(rng.randint(3, 20))).capitalize() + "." for _ in range(count)
    ]


def test_one_inserted_sentence_changes_few_chunks_where_greedy_packing_changed_many():
    rng = random.Random(7)
    changed = {"content": [], "greedy": []}
    for _ in range(20):
        sentences = _sentences(rng, 120)
        position = rng.randrange(len(sentences))
        before = " ".join(sentences)
        after = " ".join(sentences[:position] + _sentences(rng, 1) + sentences[position:])
        for name, cut in (("content", content_chunks), ("greedy", greedy_chunks)):
            changed[name].append(len(set(cut(after, 400)) - set(cut(before, 400))))
    assert max(changed["content"]) <= 3
    assert sorted(changed["content"])[10] <= 1  # the median
    assert sum(changed["greedy"]) > 3 * sum(changed["content"])  # so the test can tell the two apart


def test_sentences_are_kept_whole_when_they_fit():
    text = "Dr. Smith went to Washington. He said it was 3.5 miles away! Was it? Yes."
    assert greedy_chunks(text, 40) == [
        "Dr. Smith went to Washington.",
        "He said it was 3.5 miles away! Was it?",
        "Yes.",
    ]
    assert all(chunk.endswith((".", "!", "?")) for chunk in content_chunks(text, 40))


def test_chinese_sentences_split_at_chinese_punctuation():
    text = "今天天气很好。我们去公园散步吧！你觉得怎么样？好的；那就走吧。"
    assert greedy_chunks(text, 10) == ["今天天气很好。", "我们去公园散步吧！", "你觉得怎么样？", "好的；那就走吧。"]


def test_an_oversize_sentence_is_cut_at_clauses_then_words_then_characters():
    clauses = "first clause, second clause; third clause: and the end."
    assert greedy_chunks(clauses, 16) == ["first clause,", "second clause;", "third clause:", "and the end."]
    assert greedy_chunks("one two three four five six", 9) == ["one two", "three", "four five", "six"]
    no_spaces = "今天天气很好我们去公园散步吧你觉得怎么样"
    assert greedy_chunks(no_spaces, 8) == ["今天天气很好我们", "去公园散步吧你觉", "得怎么样"]


def test_a_rule_or_ellipsis_alone_is_never_a_chunk():
    document = document_from_text("First paragraph.\n\n---\n\nSecond. …\n\n***")
    chunks = plan_for(document, engine_for(LocalSpeech()))
    assert [chunk.text for chunk in chunks] == ["First paragraph.", "Second. …"]


def test_blocks_whose_version_1_chunks_are_stored_keep_them():
    """A new chunker never re-pays audio a user has: stored greedy chunks of unchanged blocks are kept."""
    rng = random.Random(3)
    paragraphs = [" ".join(_sentences(rng, 12)) for _ in range(3)]
    document = document_from_text("\n\n".join(paragraphs))
    engine = engine_for(LocalSpeech())
    fresh = plan_for(document, engine)
    assert {chunk.cutting for chunk in fresh} == {2}
    # what version 1 stored: greedy chunks of every block, keyed as then
    stored = {chunk.key for chunk in plan_for(document, engine, lambda keys: set(keys))}
    reused = plan_for(document, engine, lambda keys: {key for key in keys if key in stored})
    assert {chunk.cutting for chunk in reused} == {1}
    assert [chunk.text for chunk in reused if chunk.block == 0] == greedy_chunks(paragraphs[0], 400)
    # one block edited: it is cut anew, the others keep their stored chunks
    edited = document_from_text("\n\n".join([paragraphs[0], paragraphs[1] + " A new sentence.", paragraphs[2]]))
    mixed = plan_for(edited, engine, lambda keys: {key for key in keys if key in stored})
    assert {chunk.block: chunk.cutting for chunk in mixed} == {0: 1, 1: 2, 2: 1}
