"""State kept per event loop (gates, slot pools, limits made), let go once its loop is closed."""

from __future__ import annotations

import asyncio
import weakref


def for_running_loop(per_loop: weakref.WeakKeyDictionary) -> dict:
    """The running loop's entry of `per_loop` (made on first use). Entries of closed loops are dropped here:
    their values (tasks, locks, semaphores) refer to their loop, so the weak key alone would never let it
    go, and a warm runner starts a loop per narration."""
    for closed in [loop for loop in per_loop if loop.is_closed()]:
        del per_loop[closed]
    return per_loop.setdefault(asyncio.get_running_loop(), {})
