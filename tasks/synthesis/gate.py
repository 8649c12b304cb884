"""One gate per provider and event loop: everything that decides when a request may go out.

- a cap on requests in flight (the block's `max_concurrency`);
- a bound on answers in hand, waiting for their check and store (twice the cap), so a provider
  that answers faster than worker threads can check never piles answers up in memory;
- a bound on the bytes of those answers: while AWAITING_STORE_BYTES of answers wait for their
  check and store, no new request leaves. Long chunks (a minute or more of audio each) would
  otherwise have twice the cap of them in memory at once when a burst of answers arrives
  together, as at a run's start; answers of a sentence or two never reach it, and it holds
  requests back only while the stores are behind. A request held back this way keeps its slot of
  the provider's global limit, if the block has one: memory, in that moment, comes first;
- a hold-off: after a 429, no request to that provider leaves this process until its
  Retry-After has passed, instead of each request meeting the limit again on its own (one
  429 answered per request cut throughput to a third of the provider's rate);
- pacing to the block's `requests_per_second`, spacing requests evenly.

Gates are shared by every run in the process (narrate-folder narrates several documents in one
process, and they must share one cap), and kept per event loop, because asyncio primitives
belong to the loop they were made on.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Iterator

from tasks.synthesis.per_loop import for_running_loop

DEFAULT_HOLD_SECONDS = 1.0
# About four minutes of 16 kHz PCM: answers of a few seconds each (a sentence or two) never fill it.
AWAITING_STORE_BYTES = 8 << 20


class ProviderGate:
    """Admission control for one provider's requests in one event loop."""

    def __init__(self, cap: int, requests_per_second: float | None = None) -> None:
        self.cap = cap
        self.requests_per_second = requests_per_second
        self._in_flight = asyncio.Semaphore(cap)
        self._in_hand = asyncio.Semaphore(2 * cap)
        self._awaiting_store_bytes = 0
        self._room_for_answers = asyncio.Event()
        self._room_for_answers.set()
        self._held_until = 0.0
        self._next_start = 0.0

    @contextlib.asynccontextmanager
    async def answer_in_hand(self) -> AsyncIterator[None]:
        """Held from before a request until its answer has been checked and stored."""
        async with self._in_hand:
            yield

    @contextlib.contextmanager
    def awaiting_store(self, size: int) -> Iterator[None]:
        """Counts an answer's `size` bytes while it is checked and stored."""
        self._awaiting_store_bytes += size
        if self._awaiting_store_bytes >= AWAITING_STORE_BYTES:
            self._room_for_answers.clear()
        try:
            yield
        finally:
            self._awaiting_store_bytes -= size
            if self._awaiting_store_bytes < AWAITING_STORE_BYTES:
                self._room_for_answers.set()

    @contextlib.asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        """Held while one request is in flight: waits for a slot, room for its answer, any hold-off, and the pace."""
        async with self._in_flight:
            await self._room_for_answers.wait()  # at the last moment: requests waiting for a slot passed it earlier
            await self._wait_out_hold_off()
            await self._wait_for_pace()
            yield

    def hold_off(self, retry_after: float | None) -> None:
        """The provider said it is over its limit: send it nothing more from this process for a while."""
        loop = asyncio.get_running_loop()
        until = loop.time() + (retry_after if retry_after is not None else DEFAULT_HOLD_SECONDS)
        self._held_until = max(self._held_until, until)

    async def _wait_out_hold_off(self) -> None:
        loop = asyncio.get_running_loop()
        while (delay := self._held_until - loop.time()) > 0:
            await asyncio.sleep(delay)

    async def _wait_for_pace(self) -> None:
        if not self.requests_per_second:
            return
        loop = asyncio.get_running_loop()
        start = max(loop.time(), self._next_start)
        self._next_start = start + 1.0 / self.requests_per_second
        await asyncio.sleep(start - loop.time())


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, int, float | None], ProviderGate]] = (
    weakref.WeakKeyDictionary()
)


def gate_for(provider: str, cap: int, requests_per_second: float | None = None) -> ProviderGate:
    """The running loop's gate for `provider` with these limits (made on first use, dropped once the loop is closed)."""
    gates = for_running_loop(_gates)
    key = (provider, cap, requests_per_second)
    gate = gates.get(key)
    if gate is None:
        gate = gates[key] = ProviderGate(cap, requests_per_second)
    return gate
