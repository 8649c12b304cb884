"""Synthesis of the chunks the store does not have: concurrent, gated, retried, checked, stored.

Requests of a batch run concurrently through the provider's gate (and, with global limits, each
holds one of the provider's slots across workers while in flight), and each is retried on its
own (honouring Retry-After). A batch that fails keeps what it stored: the next attempt of the
batch skips those chunks instead of paying for them again.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable

from tasks.errors import AudioCheckError, ProviderError
from tasks.models import ChunkAudio, PlannedChunk, SynthesizedAudio
from tasks.store.chunk_store import ChunkStore
from tasks.synthesis.audio_check import check_audio
from tasks.synthesis.gate import gate_for
from tasks.synthesis.global_limits import provider_slot, take_global_rate
from tasks.synthesis.ledger import RunLedger
from tasks.synthesis.per_loop import for_running_loop
from tasks.synthesis.providers.answer_body import discard_file
from tasks.synthesis.providers.base import SpeechEngine
from tasks.synthesis.retry_policy import call_with_retries, may_have_been_received

Logger = logging.Logger | logging.LoggerAdapter


_measuring: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def one_measurement_at_a_time() -> asyncio.Semaphore:
    """The running loop's turn to measure a stored chunk, shared by every batch of every run in the loop.

    A batch waits for its turn here, not in a worker thread: when each batch had its own turn, a long
    narration's six batches each held a thread blocked on the process's measuring lock, and with the
    pool's six threads taken no answer could be checked and stored, so answers piled up in memory.
    """
    turns = for_running_loop(_measuring)  # a semaphore belongs to its loop: one per loop, let go with it
    if (turn := turns.get("measuring")) is None:
        turn = turns["measuring"] = asyncio.Semaphore(1)
    return turn


def check_and_store(store: ChunkStore, chunk: PlannedChunk, answer: SynthesizedAudio, speed: float) -> ChunkAudio:
    """Decode-check the answer, then store it: one trip to a worker thread per chunk.

    An answer in a file is checked from the file and moved into the store; one that fails is removed.
    """
    try:
        if answer.audio_file is None:
            duration = check_audio(answer.audio, answer.encoding, chunk.text, speed)
        else:
            with open(answer.audio_file, "rb") as audio:
                duration = check_audio(audio, answer.encoding, chunk.text, speed)
        return store.put(chunk.key, answer, duration)
    finally:
        discard_file(answer.audio_file)


async def synthesize_one(
    engine: SpeechEngine,
    chunk: PlannedChunk,
    store: ChunkStore,
    logger: Logger,
    ledger: RunLedger,
) -> ChunkAudio:
    """Request, check and store one chunk, retrying what can succeed on retry, within the run's ledger."""
    gate = gate_for(engine.label, engine.max_concurrency, engine.block.requests_per_second)
    characters = len(chunk.text)

    async def request() -> SynthesizedAudio:
        # The global slot outside the local gate: a request waiting for the gate already waits in the
        # slot pool, so a finished request hands its slot over instead of releasing it (400
        # chunks took 4.7 s longer the other way round, two API calls per request).
        answer: SynthesizedAudio | None = None
        try:
            async with provider_slot(engine.label, engine.block), gate.request():
                await take_global_rate(engine.label, engine.block)
                ledger.begin_attempt(chunk.key, characters, engine.label, chunk.index)
                try:
                    answer = await engine.synthesize(chunk)
                except BaseException as error:
                    ledger.end_attempt(chunk.key, characters, None if may_have_been_received(error) else 0)
                    if isinstance(error, ProviderError) and error.status == 429:
                        gate.hold_off(error.retry_after)
                    raise
                ledger.end_attempt(chunk.key, characters, answer.billed_characters)
        except BaseException:  # interrupted while handing the slot back: an answer's file is not left behind
            discard_file(answer.audio_file if answer is not None else None)
            raise
        assert answer is not None  # synthesize returned, or its error was raised
        return answer

    async def attempt() -> ChunkAudio:
        async with gate.answer_in_hand():
            answer = await request()
            try:
                # only the bytes in memory count: an answer in a file is not held by the process
                with gate.awaiting_store(len(answer.audio)):
                    try:
                        return await asyncio.to_thread(check_and_store, store, chunk, answer, engine.speed)
                    except BaseException:
                        # Interrupted while the job waited for a worker thread, it never runs to remove the
                        # file; while it runs, removing it first only fails its store (nothing half-stored).
                        discard_file(answer.audio_file)
                        raise
            except AudioCheckError as error:
                if ledger.check_failed(chunk.key, error.reason):
                    raise ProviderError(
                        engine.label, f"the answer failed its check the same way twice: {error}", retryable=False
                    ) from None
                raise

    def on_retry(error: BaseException, wait: float) -> None:
        logger.warning("chunk %d: %s; retrying in %.1f s", chunk.index, error, wait)

    account = ledger.account(chunk.key)
    if ledger.attempts_left(chunk.key) < 1:
        raise ProviderError(
            engine.label,
            f"{account.last_error}; requested {account.attempts} times in this run, the block's max_attempts",
            chunk_index=chunk.index,
        )
    try:
        return await call_with_retries(
            attempt,
            attempts=ledger.attempts_left(chunk.key),
            max_wait=engine.block.max_retry_wait_seconds,
            on_retry=on_retry,
        )
    except ProviderError as error:
        account.last_error = (
            error.provider_message if error.status is None else f"HTTP {error.status}: {error.provider_message}"
        )
        raise error.for_chunk(chunk.index) from None
    except Exception as error:
        account.last_error = f"{type(error).__name__}: {error}"
        raise ProviderError(engine.label, account.last_error, chunk_index=chunk.index, retryable=True) from error


async def synthesize_batch(
    engine: SpeechEngine,
    chunks: list[PlannedChunk],
    store: ChunkStore,
    logger: Logger,
    ledger: RunLedger,
    on_chunk_done: Callable[[ChunkAudio], Awaitable[None]] | None = None,
    after_store: Callable[[PlannedChunk, ChunkAudio], object] | None = None,
    first_attempt: bool = False,
) -> list[ChunkAudio]:
    """Synthesize a batch (skipping any chunk already stored); results in chunk order, first failure raised.

    `after_store(chunk, audio)` runs in a worker thread once a new chunk is stored: measuring it then
    uses the time the run spends waiting for the provider, instead of adding to the run after it.
    `on_chunk_done(audio)` follows, on the event loop, for each chunk in hand (stored before or now).
    `first_attempt`: the caller has just looked the chunks up and sends only missing ones.
    """
    results: dict[int, ChunkAudio] = {}
    # One batched lookup: chunks an earlier attempt of this batch stored are not requested again, and a
    # sequential provider's batch holds stored chunks too (its requests are stitched in document order).
    looked_up = first_attempt and not engine.sequential
    already = {} if looked_up else await asyncio.to_thread(store.get_many, [chunk.key for chunk in chunks])

    measuring = one_measurement_at_a_time()  # a long chunk's samples are large

    async def run(chunk: PlannedChunk) -> None:
        stored = already.get(chunk.key)
        results[chunk.index] = stored or await synthesize_one(engine, chunk, store, logger, ledger)
        if stored:
            engine.remember(stored.request_id)
        elif after_store is not None:
            try:
                async with measuring:
                    await asyncio.to_thread(after_store, chunk, results[chunk.index])
            except Exception as error:  # noqa: BLE001 - measured again at assembly; the paid audio is kept
                logger.warning("chunk %d: not measured after storing (%s); it will be at assembly", chunk.index, error)
        if on_chunk_done:
            await on_chunk_done(results[chunk.index])

    if engine.sequential:  # request stitching needs document order: stop at the first failure
        for chunk in chunks:
            await run(chunk)
        outcomes: list[object] = []
    else:
        outcomes = await asyncio.gather(*(run(chunk) for chunk in chunks), return_exceptions=True)
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failures:
        logger.error(
            "%d of %d chunks failed; the %d stored are kept for the next attempt",
            len(failures),
            len(chunks),
            len(results),
        )
        raise failures[0]
    return [results[chunk.index] for chunk in chunks]
