"""Caps on a provider's requests: in this process (a semaphore) and across every worker (Prefect).

The process-local semaphore keeps one process within the block's `max_concurrency` cheaply;
Prefect global concurrency limits, created from the block's settings, hold the same cap (and
an optional requests-per-second rate) across all workers and machines at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator

from prefect.client.orchestration import get_client
from prefect.concurrency.asyncio import concurrency, rate_limit

from blocks.speech_provider import SpeechProvider

_semaphores: dict[tuple[int, str], asyncio.Semaphore] = {}


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
async def global_slot(label: str, block: SpeechProvider) -> AsyncIterator[None]:
    """Hold one of the provider's slots across all workers (and wait for the rate, if one is set)."""
    in_flight, rate = limit_names(label)
    if block.requests_per_second:
        await rate_limit(rate, occupy=1, strict=False)
    async with concurrency(in_flight, occupy=1, strict=False):
        yield
