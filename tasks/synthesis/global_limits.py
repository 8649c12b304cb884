"""A provider's cap and rate held across every worker, with Prefect global concurrency limits.

The process-local gate keeps each request within the block's limits cheaply. Across workers,
Prefect global concurrency limits created from the block's settings hold the same cap: a run's
synthesis phase occupies as many slots as it can use, once, for its duration. Taking a slot per
request would cost two API calls each and, under contention, Prefect's exponential back-off;
per batch, batches of one run queue behind each other's tails (a 400-chunk run took 28 s
instead of 16 s that way). The rate is paced locally first, so Prefect's rate limit is rarely
contended (its client backs off exponentially when it is).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import AsyncIterator

from prefect.client.orchestration import get_client
from prefect.concurrency.asyncio import concurrency, rate_limit
from prefect.exceptions import ObjectAlreadyExists

from blocks.speech_provider import SpeechProvider
from tasks.synthesis.gate import ProviderGate

# A run killed with SIGKILL cannot release its slots; its lease lapses this long after its last renewal
# (Prefect renews held leases in the background; 60 s is the server's minimum), so a rerun after a kill
# waits up to about a minute: the reason `global_limits` is opt-in, for providers shared by several workers.
LEASE_SECONDS = 60.0


@contextlib.asynccontextmanager
async def held_alone(name: str) -> AsyncIterator[None]:
    """Run the block as the only holder of `name` across every worker (a Prefect global limit of 1)."""
    async with get_client() as client:
        await _upsert(client, name, 1)
    async with concurrency(name, occupy=1, strict=True, lease_duration=LEASE_SECONDS):
        yield


def exclusive_name(kind: str, subject: str) -> str:
    """A global limit's name for one subject (a document, an output), safe for Prefect's naming rules."""
    return f"narration-{kind}-{hashlib.sha256(subject.encode()).hexdigest()[:20]}"


def limit_names(label: str) -> tuple[str, str]:
    """Names of the provider's global limits: (in flight, rate); Prefect forbids '/' in names."""
    safe = label.replace("/", ".")
    return f"narration-provider-{safe}", f"narration-provider-rate-{safe}"


async def ensure_global_limits(label: str, block: SpeechProvider) -> None:
    """Create or update the provider's global limits so they match the block's settings."""
    in_flight, rate = limit_names(label)
    async with get_client() as client:
        await _upsert(client, in_flight, block.max_concurrency)
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


@contextlib.asynccontextmanager
async def global_slots(label: str, block: SpeechProvider, gate: ProviderGate, wanted: int) -> AsyncIterator[None]:
    """Hold `wanted` (at most the cap) of the provider's slots across all workers; runs of one process take turns."""
    if not block.global_limits or wanted < 1:
        yield
        return
    in_flight, _ = limit_names(label)
    slots = min(wanted, block.max_concurrency)
    async with gate.turn, concurrency(in_flight, occupy=slots, strict=False, lease_duration=LEASE_SECONDS):
        yield


async def take_global_rate(label: str, block: SpeechProvider) -> None:
    """One unit of the provider's rate across workers (after local pacing), where the block asks for it."""
    if block.global_limits and block.requests_per_second:
        await rate_limit(limit_names(label)[1], occupy=1, strict=False)
