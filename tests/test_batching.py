"""How a run's missing chunks become synthesis task runs: few, since each one's start delays the first requests."""

from __future__ import annotations

from blocks import MaasEle
from tasks.synthesis.batching import MAX_BATCH, split_requests
from tasks.synthesis.planning import plan_for
from tasks.synthesis.providers import engine_for
from tasks.text.documents import document_from_text


def _engine(cap: int):
    return engine_for(MaasEle(endpoint="http://127.0.0.1:9", access_key="key", max_concurrency=cap))


def _chunks(engine, count: int):
    text = "\n\n".join(f"Paragraph number {i} of the document." for i in range(count))
    return plan_for(document_from_text(text), engine, lambda keys: set())


def test_a_400_chunk_narration_at_a_cap_of_16_is_one_task_run():
    engine = _engine(16)
    batches, long = split_requests(engine, _chunks(engine, 400))
    assert [len(batch) for batch in batches] == [400] and long == []


def test_a_long_book_is_cut_into_batches_of_64_rounds_of_the_cap_each_key_once():
    engine = _engine(4)
    chunks = _chunks(engine, 600)
    batches, _ = split_requests(engine, chunks + chunks[:50])  # a key repeated in the document is paid once
    assert [len(batch) for batch in batches] == [256, 256, 88]
    assert sorted(chunk.key for batch in batches for chunk in batch) == sorted(chunk.key for chunk in chunks)


def test_batches_stay_within_bounds_at_extreme_caps():
    one = _engine(1)
    assert [len(b) for b in split_requests(one, _chunks(one, 100))[0]] == [64, 36]
    wide = _engine(64)
    assert max(len(b) for b in split_requests(wide, _chunks(wide, 3000))[0]) == MAX_BATCH
