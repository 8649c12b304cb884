"""Cutting a document into chunks: the text half of the chunk contract (README, "The chunk contract").

Hard cuts: a chunk never crosses a block (paragraph, heading, list item, quote, table row, cue
group), so a chapter or paragraph edit never reaches another block's chunks. Inside a block, the
text is cut into sentences (`sentencex`, linear in the text), a sentence longer than the limit at
clause punctuation, then spaces, then between characters (where Chinese and Japanese text without
spaces ends up). Sentences are then grouped into chunks at cut points the content chooses:

- after a sentence whose hash falls below its share of a target size (TARGET_SHARE of the
  limit), whatever comes before or after it;
- a run between two such cuts that is still over the limit is cut into parts between half the
  limit and the limit, each ending at its lowest-hashed sentence end.

Every cut depends only on the sentences around it, so inserting or deleting a sentence changes
the chunks between the content cuts on either side of it, not the rest of the block (greedy
packing moved every later boundary: one sentence inserted at the start of a 60-sentence
paragraph re-synthesized 8 of 8 chunks; cut by content, one sentence inserted anywhere in 300
changes 1 chunk in the median and at most 3 in 40 trials).

Version 1 packed sentences greedily up to the limit. Chunks cut that way are still in users'
chunk stores, so `greedy_chunks` keeps that cutting: planning keeps a block's version-1 cuts
wherever all of them are stored, and only blocks that changed are cut anew.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import sentencex

CUTTING_VERSION = 2
TARGET_SHARE = 0.5
PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_CLAUSE = re.compile(r"[^,;:，；：、—–]*[,;:，；：、—–]+\s*|[^,;:，；：、—–]+")
_WORD = re.compile(r"\S+\s*|\s+")
_HASH_SPACE = float(1 << 64)


@dataclass(frozen=True)
class TextBlock:
    """What chunking needs of a document block: its text, and its kind (heading, paragraph, …)."""

    text: str
    kind: str = "paragraph"


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs are separated by blank lines; empty ones are dropped."""
    return [p.strip() for p in PARAGRAPH_BREAK.split(text) if p.strip()]


def split_sentences(paragraph: str, language: str = "en") -> list[str]:
    """Sentences of one paragraph, whitespace kept, so that joining them gives it back."""
    return [s for s in sentencex.segment(language, paragraph) if s]


def sentence_offsets(text: str, language: str = "en") -> list[int]:
    """Where each sentence of `text` starts (its first non-space character), as cues and timings count them."""
    offsets = []
    position = 0
    for sentence in split_sentences(text, language):
        if sentence.strip():
            offsets.append(position + len(sentence) - len(sentence.lstrip()))
        position += len(sentence)
    return offsets


def _pack(pieces: list[str], limit: int) -> Iterator[str]:
    """Join consecutive pieces greedily into strings of at most `limit` characters."""
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece.rstrip()) > limit:
            yield current
            current = ""
        current += piece
    if current:
        yield current


def _split_oversize(text: str, limit: int, patterns: tuple[re.Pattern[str], ...]) -> list[str]:
    """Cut `text` at the first pattern's boundaries, recursing to finer ones for pieces still too long."""
    if len(text.strip()) <= limit:
        return [text]
    if not patterns:
        return [text[i : i + limit] for i in range(0, len(text), limit)]
    pieces: list[str] = []
    for piece in patterns[0].findall(text):
        pieces.extend(_split_oversize(piece, limit, patterns[1:]))
    return list(_pack(pieces, limit))


def split_long_sentence(sentence: str, limit: int) -> list[str]:
    """A sentence over `limit`: at clauses, then words, then characters."""
    return _split_oversize(sentence, limit, (_CLAUSE, _WORD))


def sentence_pieces(text: str, limit: int, language: str) -> list[str]:
    """A block's sentences, each within `limit` (long ones split), whitespace kept."""
    pieces: list[str] = []
    for sentence in split_sentences(text, language):
        if len(sentence) <= limit:  # nearly every sentence: kept whole without a call
            pieces.append(sentence)
        else:
            pieces.extend(split_long_sentence(sentence, limit))
    return pieces


def _cut_weights(pieces: Sequence[str]) -> list[float]:
    """For each piece a number in [0, 1) that depends only on its text: where the content says to cut.

    Part of the chunk contract (it decides where version-2 chunks end): never change how it is computed.
    """
    blake2b, from_bytes = hashlib.blake2b, int.from_bytes
    return [
        from_bytes(blake2b(piece.strip().encode("utf-8"), digest_size=8).digest(), "big") / _HASH_SPACE
        for piece in pieces
    ]


def _size(pieces: Sequence[str]) -> int:
    return len("".join(pieces).strip())


def _split_to_fit(pieces: list[str], weights: list[float], limit: int) -> list[list[str]]:
    """A run of pieces over the limit, cut into parts that fit: each part ends, among the piece ends that
    leave it between half the limit and the limit, at the lowest-weighted one (so where the content says)."""
    parts: list[list[str]] = []
    start = 0
    while _size(pieces[start:]) > limit:
        candidates = []
        for end in range(start + 1, len(pieces)):
            size = _size(pieces[start:end])
            if size > limit:
                break
            if size >= limit / 2 or end == start + 1:
                candidates.append(end)
        end = min(candidates, key=lambda e: weights[e - 1])
        parts.append(pieces[start:end])
        start = end
    parts.append(pieces[start:])
    return parts


def content_chunks(text: str, limit: int, language: str = "en") -> list[str]:
    """One block's chunks, cut where the content says (see the module's docstring); stripped, none empty."""
    pieces = sentence_pieces(text, limit, language)
    target = max(1.0, TARGET_SHARE * limit)
    weights = _cut_weights(pieces)
    runs: list[list[str]] = []
    start = 0
    last = len(pieces) - 1
    for i, (piece, weight) in enumerate(zip(pieces, weights, strict=True)):
        if i == last or weight < len(piece.strip()) / target:
            runs.extend(_split_to_fit(pieces[start : i + 1], weights[start : i + 1], limit))
            start = i + 1
    return _join_wordless([text for text in ("".join(run).strip() for run in runs) if text], limit)


def has_words(text: str) -> bool:
    """Something to say: a letter or a digit (not only '---', '***' or '…')."""
    return any(character.isalnum() for character in text)


def _join_wordless(chunks: list[str], limit: int) -> list[str]:
    """A chunk with nothing to speak is never sent alone: it joins the chunk before it (or after, if first),
    or, where that would pass the limit, is left out (it has nothing a listener would hear)."""
    joined: list[str] = []
    pending = ""
    for chunk in chunks:
        if not has_words(chunk):
            if joined and len(joined[-1]) + 1 + len(chunk) <= limit:
                joined[-1] = f"{joined[-1]} {chunk}"
            elif not joined and len(pending) + 1 + len(chunk) <= limit:
                pending = f"{pending} {chunk}".strip()
            continue
        if pending and len(pending) + 1 + len(chunk) <= limit:
            chunk = f"{pending} {chunk}"
        joined.append(chunk)
        pending = ""
    return joined


def greedy_chunks(text: str, limit: int, language: str = "en") -> list[str]:
    """Version 1's cutting of one block: sentences packed greedily up to the limit."""
    packed = (piece.strip() for piece in _pack(sentence_pieces(text, limit, language), limit))
    return [piece for piece in packed if piece]
