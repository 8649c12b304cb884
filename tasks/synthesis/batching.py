"""How a narration's missing chunks are split into Prefect task runs.

A task run costs 15-20 ms of CPU on the event loop before its first request (more on a busy machine),
and batches start side by side, so each batch after the first delays the first requests (runs of a
400-chunk narration started seven at once lost about half a second). So a batch holds 64 rounds of the
provider's cap. Its size changes nothing about retries: a retried batch repeats only the chunks whose
requests failed (it skips what the failed attempt stored), so a run fails only where one chunk fails on
every attempt, however many chunks share its batch.
"""

from __future__ import annotations

from tasks.models import PlannedChunk
from tasks.synthesis.providers.base import SpeechEngine

MAX_BATCH = 1024
ROUNDS_PER_BATCH = 64


def batch_size(engine: SpeechEngine) -> int:
    """Chunks per task run: ROUNDS_PER_BATCH rounds of the provider's cap, between 8 and MAX_BATCH."""
    return max(8, min(MAX_BATCH, engine.max_concurrency * ROUNDS_PER_BATCH))


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
