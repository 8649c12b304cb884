"""Caps on a provider's requests: in this process (a semaphore) and across every worker (Prefect).

The process-local semaphore keeps each request within the block's `max_concurrency` cheaply.
Across workers, Prefect global concurrency limits created from the block's settings hold the
same cap: a run's synthesis phase occupies as many slots as it can use, once, for its duration.
Per request that would cost two API calls and, under contention, Prefect's exponential back-off;
per batch, batches of one run queue behind each other's tails (B1: 28 s against 16 s).
An optional requests-per-second rate is paced locally, then taken from a Prefect rate limit.
Without one, a 429 holds every request of the provider in this process until its Retry-After
has passed, instead of each request meeting the limit again on its own (B5: 3.3 req/s of 10).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator

from prefect.client.orchestration import get_client
from prefect.concurrency.asyncio import concurrency, rate_limit

from blocks.speech_provider import SpeechProvider

# A run killed with SIGKILL cannot release its slots; its lease lapses this long after its last renewal
# (Prefect renews held leases in the background; 60 s is the server's minimum), so a rerun after a kill
# waits up to about a minute: the reason `global_limits` is opt-in, for providers shared by several workers.
LEASE_SECONDS = 60.0
_semaphores: dict[tuple[int, str], asyncio.Semaphore] = {}
_turns: dict[tuple[int, str], asyncio.Lock] = {}


def provider_slots(provider_key: str, cap: int) -> asyncio.Semaphore:
    """The semaphore bounding `provider_key` in the running event loop (created on first use)."""
    loop_key = (id(asyncio.get_running_loop()), f"{provider_key}#{cap}")
    semaphore = _semaphores.get(loop_key)
    if semaphore is None:
        semaphore = _semaphores[loop_key] = asyncio.Semaphore(cap)
    return semaphore


def limit_names(label: str) -> tuple[str, str]:
    """Names of the provider's global limits: (in flight, rate); Prefect forbids '/' in names."""
    safe = label.replace("/", ".")
    return f"narration-provider-{safe}", f"narration-provider-rate-{safe}"


async def ensure_global_limits(label: str, block: SpeechProvider) -> None:
    """Create or update the provider's global limits so they match the block's settings."""
    in_flight, rate = limit_names(label)
    async with get_client() as client:
        await client.upsert_global_concurrency_limit_by_name(in_flight, block.max_concurrency)
        if block.requests_per_second:
            await client.upsert_global_concurrency_limit_by_name(
                rate, max(1, math.ceil(block.requests_per_second)), slot_decay_per_second=block.requests_per_second
            )


@contextlib.asynccontextmanager
async def global_slots(label: str, block: SpeechProvider, wanted: int) -> AsyncIterator[None]:
    """Hold `wanted` (at most the cap) of the provider's slots across all workers; runs of one process take turns."""
    if not block.global_limits or wanted < 1:
        yield
        return
    key = (id(asyncio.get_running_loop()), label)
    turn = _turns.setdefault(key, asyncio.Lock())
    in_flight, _ = limit_names(label)
    slots = min(wanted, block.max_concurrency)
    async with turn, concurrency(in_flight, occupy=slots, strict=False, lease_duration=LEASE_SECONDS):
        yield


_next_start: dict[tuple[int, str], float] = {}


async def wait_for_rate(label: str, block: SpeechProvider) -> None:
    """Keep to the block's requests-per-second: paced in this process, then Prefect's rate limit across workers.

    The local pacing spaces requests evenly, so Prefect's limit is rarely contended (its client
    backs off exponentially when it is, which cut throughput to a fifth in B5).
    """
    rate = block.requests_per_second
    if not rate:
        return
    loop = asyncio.get_running_loop()
    key = (id(loop), label)
    start = max(loop.time(), _next_start.get(key, 0.0))
    _next_start[key] = start + 1.0 / rate
    await asyncio.sleep(start - loop.time())
    if block.global_limits:
        await rate_limit(limit_names(label)[1], occupy=1, strict=False)


_held_until: dict[tuple[int, str], float] = {}
DEFAULT_HOLD_SECONDS = 1.0


def hold_off(label: str, retry_after: float | None) -> None:
    """The provider said it is over its limit: send it nothing more from this process for a while."""
    loop = asyncio.get_running_loop()
    key = (id(loop), label)
    until = loop.time() + (retry_after if retry_after is not None else DEFAULT_HOLD_SECONDS)
    _held_until[key] = max(_held_until.get(key, 0.0), until)


async def wait_out_hold_off(label: str) -> None:
    """Wait until the provider's latest hold-off (if any) has passed."""
    loop = asyncio.get_running_loop()
    key = (id(loop), label)
    while (delay := _held_until.get(key, 0.0) - loop.time()) > 0:
        await asyncio.sleep(delay)
