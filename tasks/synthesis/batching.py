"""How a narration's missing chunks are split into Prefect task runs.

A task run costs about 14 ms of CPU and several API calls before its first request, so a
batch holds many chunks (runs of a 400-chunk narration started seven at once lost about half a
second to that); it stays small enough that a retried batch repeats little, and a retry skips
what the failed attempt stored anyway.
"""

from __future__ import annotations

from tasks.models import PlannedChunk
from tasks.synthesis.providers.base import SpeechEngine

MAX_BATCH = 256


def batch_size(engine: SpeechEngine) -> int:
    """Chunks per task run: sixteen rounds of the provider's cap, between 8 and MAX_BATCH."""
    return max(8, min(MAX_BATCH, engine.max_concurrency * 16))


def split_requests(
    engine: SpeechEngine, missing: list[PlannedChunk]
) -> tuple[list[list[PlannedChunk]], list[PlannedChunk]]:
    """(batches of short requests, chunks that go as long jobs), each key once.

    A sequential provider (request stitching) gets one batch in document order.
    """
    unique = list({chunk.key: chunk for chunk in missing}.values())
    long = [chunk for chunk in unique if engine.is_long(chunk)]
    short = [chunk for chunk in unique if not engine.is_long(chunk)]
    size = len(short) if engine.sequential else batch_size(engine)
    return [short[i : i + size] for i in range(0, len(short), size)], long
