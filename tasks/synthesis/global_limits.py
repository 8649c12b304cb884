"""A provider's cap and rate held across every worker, with Prefect global concurrency limits.

The process-local gate keeps each request within the block's limits cheaply. Across workers,
Prefect global concurrency limits created from the block's settings hold the same cap: each
request (or long job) holds one slot while it is in flight, as a lease that the process hands
from one of its requests to the next (`slot_pool.py` says why, and what it costs). The rate is
paced locally first, so Prefect's rate limit is rarely contended (its client backs off
exponentially when it is).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import weakref
from collections.abc import AsyncIterator

from prefect.client.orchestration import get_client
from prefect.concurrency.asyncio import concurrency, rate_limit
from prefect.exceptions import ObjectAlreadyExists

from blocks.speech_provider import SpeechProvider
from tasks.synthesis.fair_share import MEMBERS_LIMIT, members_limit_name
from tasks.synthesis.leases import LEASE_SECONDS
from tasks.synthesis.per_loop import for_running_loop
from tasks.synthesis.slot_pool import slot_pool_for


@contextlib.asynccontextmanager
async def held_alone(name: str) -> AsyncIterator[None]:
    """Run the block as the only holder of `name` across every worker (a Prefect global limit of 1)."""
    async with get_client() as client:
        await _upsert(client, name, 1)
    async with concurrency(name, occupy=1, strict=True, lease_duration=LEASE_SECONDS):
        yield


# Subjects are held alone through a fixed set of limits per kind: a limit of its own for every output ever
# published grew Prefect's table (and the UI's list of limits) by one a document, for good. Two subjects
# that share a stripe only take turns; publishing, which an output is held for, takes seconds.
EXCLUSIVE_STRIPES = 1024


def exclusive_name(kind: str, subject: str) -> str:
    """The name of the limit of 1 that holds `subject` (a document, an output) alone: one of EXCLUSIVE_STRIPES."""
    stripe = int.from_bytes(hashlib.sha256(subject.encode()).digest()[:8], "big") % EXCLUSIVE_STRIPES
    return f"narration-{kind}-{stripe:04d}"


def limit_names(label: str) -> tuple[str, str]:
    """Names of the provider's global limits: (in flight, rate); Prefect forbids '/' in names."""
    safe = label.replace("/", ".")
    return f"narration-provider-{safe}", f"narration-provider-rate-{safe}"


# How long a process trusts the limits it made to still match: the documents of one run (narrated side by
# side, each asking at its start) share one round of upserts (a read and a write a limit) instead of one each.
ENSURED_SECONDS = 60.0
_ensured: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, tuple[float, asyncio.Task]]] = (
    weakref.WeakKeyDictionary()
)


async def ensure_global_limits(label: str, block: SpeechProvider) -> None:
    """Create or update the provider's global limits so they match the block's settings (once a minute a process)."""
    loop = asyncio.get_running_loop()
    ensured = for_running_loop(_ensured)
    key = (label, block.max_concurrency, block.requests_per_second)
    made = ensured.get(key)
    if made is None or (
        made[1].done() and (made[1].cancelled() or made[1].exception() or loop.time() - made[0] > ENSURED_SECONDS)
    ):
        made = ensured[key] = (loop.time(), loop.create_task(_make_global_limits(label, block)))
    await asyncio.shield(made[1])


async def _make_global_limits(label: str, block: SpeechProvider) -> None:
    in_flight, rate = limit_names(label)
    async with get_client() as client:
        await _upsert(client, in_flight, block.max_concurrency)
        await _upsert(client, members_limit_name(in_flight), MEMBERS_LIMIT)
        if block.requests_per_second:
            await _upsert(
                client,
                rate,
                max(1, math.ceil(block.requests_per_second)),
                slot_decay_per_second=block.requests_per_second,
            )


async def _upsert(client, name: str, limit: int, **options) -> None:
    """Prefect's upsert reads, then creates: runs starting together race, and the losers get ObjectAlreadyExists.
    The limit exists then, so one more upsert updates it."""
    try:
        await client.upsert_global_concurrency_limit_by_name(name, limit, **options)
    except ObjectAlreadyExists:
        await client.upsert_global_concurrency_limit_by_name(name, limit, **options)


def _pool(label: str, block: SpeechProvider):
    in_flight = limit_names(label)[0]
    return slot_pool_for(in_flight, block.max_concurrency, members_limit_name(in_flight))


def provider_slot(label: str, block: SpeechProvider) -> contextlib.AbstractAsyncContextManager[None]:
    """One of the provider's slots across workers, for one request or long job, where the block asks for it."""
    if not block.global_limits:
        return contextlib.nullcontext()
    return _pool(label, block).slot()


async def settle_provider_slots(label: str, block: SpeechProvider) -> None:
    """Wait until this process's acquisitions for the provider are over (their leases handed back)."""
    if block.global_limits:
        await _pool(label, block).settle()


async def take_global_rate(label: str, block: SpeechProvider) -> None:
    """One unit of the provider's rate across workers (after local pacing), where the block asks for it."""
    if block.global_limits and block.requests_per_second:
        await rate_limit(limit_names(label)[1], occupy=1, strict=False)
