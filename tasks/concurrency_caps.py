"""Per-provider caps on requests in flight, shared by every batch of every run in this process."""

from __future__ import annotations

import asyncio

_semaphores: dict[tuple[int, str], asyncio.Semaphore] = {}


def provider_slots(provider_key: str, cap: int) -> asyncio.Semaphore:
    """The semaphore bounding `provider_key` in the running event loop (created on first use)."""
    loop_key = (id(asyncio.get_running_loop()), f"{provider_key}#{cap}")
    semaphore = _semaphores.get(loop_key)
    if semaphore is None:
        semaphore = _semaphores[loop_key] = asyncio.Semaphore(cap)
    return semaphore
