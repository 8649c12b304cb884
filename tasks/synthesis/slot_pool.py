"""A provider's cap across workers, held only while requests are in flight: one-slot leases, handed along.

Why not one lease per run: a run used to take its slots once for its whole synthesis phase, and in a
fleet most of that phase is the run's own work (task runs, checking, storing and measuring answers),
so the cap sat idle while held: in the fleet benchmark (B7) a run held 4 slots for 5.7 s to make 0.5 s
of requests, and 11 % of the cap was in use. Why not Prefect's `concurrency()` per request: it costs
an acquisition, an immediate lease renewal (in a thread of its own, with a client of its own) and a
release, and under contention it waits what the server says, which grows to 30 s while a slot stays
free for a fraction of a second.

So each request (or long job) holds one slot of the provider's global limit while it is in flight: a
Prefect lease of one slot. A process keeps a lease while it has another request waiting for one, and
hands it straight to that request (no API call), so a run's rounds of requests cost one acquisition per
slot; a lease nobody in the process waits for goes back at once, so other workers take it. A process
waiting for slots has one acquisition in flight at a time, retried after the server's Retry-After but
never more than MAX_POLL_SECONDS later; after a success it tries two at once, then four, and so on. A lease held past half its duration (a long job) is renewed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import weakref
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client

from tasks.synthesis.retry_policy import parse_retry_after

# A run killed with SIGKILL cannot release its slots; its leases lapse this long after their last renewal
# (60 s is the server's minimum), so a rerun after a kill may wait up to about a minute: the reason
# `global_limits` is opt-in, for providers shared by several workers.
LEASE_SECONDS = 60.0
MAX_POLL_SECONDS = 1.0  # a waiting process asks again at least this often, whatever the server suggests
MIN_POLL_SECONDS = 0.05
SERVER_ERROR_ATTEMPTS = 5  # an overloaded API answering 5xx, or a dropped connection, is tried this often
SERVER_ERROR_WAIT_SECONDS = 0.5  # doubled after each such failure, at most 8 s

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Lease:
    """One slot of the limit; `id` None when the limit does not exist (nothing to release: no cap applies)."""

    id: UUID | None
    renewal: asyncio.Task | None = field(default=None, repr=False)


class SlotPool:
    """The slots of one global limit that this process's requests hold, in one event loop."""

    def __init__(self, name: str, cap: int) -> None:
        self.name = name
        self.cap = cap
        self.in_use = 0  # leases given to requests (handed over, even if the request has not resumed yet)
        self._waiters: deque[asyncio.Future[Lease]] = deque()
        self._acquiring: set[asyncio.Task] = set()
        # How many acquisitions may be under way at once: one at first (a process arriving at a full limit
        # would otherwise send as many attempts as it has requests) and after a 423, doubling with each
        # success (a run whose limit has room takes 16 slots in 5 round trips).
        self._window = 1

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the block: waits for a lease handed over or acquired; gives it back after."""
        lease = await self._take()
        try:
            yield
        finally:
            await self._give_back(lease, from_request=True)

    async def settle(self) -> None:
        """Wait for acquisitions still under way (each gives back what it gets when nobody waits for it)."""
        while self._acquiring:
            await asyncio.gather(*self._acquiring, return_exceptions=True)

    async def _take(self) -> Lease:
        waiter: asyncio.Future[Lease] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._pump()
        try:
            lease = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                await self._give_back(waiter.result(), from_request=True)  # handed over as it was cancelled
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
        return lease

    def _next_waiter(self) -> asyncio.Future[Lease] | None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                return waiter
        return None

    async def _give_back(self, lease: Lease, *, from_request: bool) -> None:
        """Hand the lease to the next waiter of this process, or release it to the other workers."""
        if from_request:
            self.in_use -= 1
        waiter = self._next_waiter()
        if waiter is not None:
            self.in_use += 1
            waiter.set_result(lease)
            return
        await self._release(lease)

    def _pump(self) -> None:
        """Start acquisitions for the waiters no lease is coming for: all at once while the limit has room."""
        waiting = sum(1 for waiter in self._waiters if not waiter.done())
        wanted = min(waiting, self.cap - self.in_use, self._window) - len(self._acquiring)
        for _ in range(max(0, wanted)):
            task = asyncio.get_running_loop().create_task(self._acquire())
            self._acquiring.add(task)
            task.add_done_callback(self._acquiring.discard)

    async def _acquire(self) -> None:
        """Get one lease for a waiter; fail the waiter when the API keeps failing."""
        try:
            lease = await self._request_lease()
        except Exception as error:  # noqa: BLE001 - the waiting request reports it
            self._acquiring.discard(asyncio.current_task())
            if (waiter := self._next_waiter()) is not None:
                waiter.set_exception(error)
            self._pump()
            return
        self._acquiring.discard(asyncio.current_task())
        if lease is not None:
            await self._give_back(lease, from_request=False)
        self._pump()

    async def _request_lease(self) -> Lease | None:
        """A lease of one slot, polling while the limit is full; None when no waiter needs it any more."""
        failures = 0
        async with get_client() as client:
            while any(not waiter.done() for waiter in self._waiters):
                try:
                    response = await client.increment_concurrency_slots_with_lease(
                        names=[self.name], slots=1, mode="concurrency", lease_duration=LEASE_SECONDS
                    )
                except httpx.HTTPStatusError as error:
                    if error.response.status_code == 423:
                        if not await self._wait_for_room(error.response):
                            return None
                        continue
                    if error.response.status_code < 500 or (failures := failures + 1) >= SERVER_ERROR_ATTEMPTS:
                        raise
                    await asyncio.sleep(min(8.0, SERVER_ERROR_WAIT_SECONDS * 2**failures))
                    continue
                except httpx.TransportError:
                    if (failures := failures + 1) >= SERVER_ERROR_ATTEMPTS:
                        raise
                    await asyncio.sleep(min(8.0, SERVER_ERROR_WAIT_SECONDS * 2**failures))
                    continue
                self._window = min(self.cap, 2 * self._window)
                body = response.json()
                lease = Lease(UUID(body["lease_id"]) if body.get("limits") else None)
                if lease.id is not None:
                    lease.renewal = asyncio.get_running_loop().create_task(self._renew(lease.id))
                return lease
        return None

    async def _wait_for_room(self, response: httpx.Response) -> bool:
        """After a 423: False if another acquisition of this process goes on polling, else wait and say True."""
        self._window = 1
        if len(self._acquiring) > 1:
            return False
        suggested = parse_retry_after(response.headers.get("Retry-After")) or MAX_POLL_SECONDS
        await asyncio.sleep(min(MAX_POLL_SECONDS, max(MIN_POLL_SECONDS, suggested)) * random.uniform(0.8, 1.0))
        return True

    async def _renew(self, lease_id: UUID) -> None:
        """Keep a lease held longer than half its duration (a long job, a long run of hand-overs) alive."""
        while True:
            await asyncio.sleep(LEASE_SECONDS / 2)
            try:
                async with get_client() as client:
                    await client.renew_concurrency_lease(lease_id=lease_id, lease_duration=LEASE_SECONDS)
            except Exception as error:  # noqa: BLE001 - the slot may be lost; the request goes on
                logger.warning("could not renew the lease of a %s slot: %s", self.name, error)

    async def _release(self, lease: Lease) -> None:
        if lease.renewal is not None:
            lease.renewal.cancel()
        if lease.id is None:
            return
        try:
            async with get_client() as client:
                await client.release_concurrency_slots_with_lease(lease_id=lease.id)
        except Exception as error:  # noqa: BLE001 - the lease lapses by itself within LEASE_SECONDS
            logger.warning("could not release a %s slot (it lapses within %.0f s): %s", self.name, LEASE_SECONDS, error)


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, int], SlotPool]] = (
    weakref.WeakKeyDictionary()
)


def slot_pool_for(name: str, cap: int) -> SlotPool:
    """The running loop's pool for the limit `name` (made on first use, dropped with the loop)."""
    pools = _pools.setdefault(asyncio.get_running_loop(), {})
    pool = pools.get((name, cap))
    if pool is None:
        pool = pools[(name, cap)] = SlotPool(name, cap)
    return pool
