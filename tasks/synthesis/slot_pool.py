"""A provider's cap across workers, held only while requests are in flight: one-slot leases, handed along.

Why not one lease per run: a run used to take its slots once for its whole synthesis phase, and in a
fleet most of that phase is the run's own work (task runs, checking, storing and measuring answers),
so the cap sat idle while held: in the fleet benchmark a run held 4 slots for 5.7 s to make 0.5 s
of requests, and 11 % of the cap was in use. Why not Prefect's `concurrency()` per request: it costs
an acquisition, an immediate lease renewal (in a thread of its own, with a client of its own) and a
release, and under contention it waits what the server says, which grows to 30 s while a slot stays
free for a fraction of a second.

So each request (or long job) holds one slot of the provider's global limit while it is in flight: a
Prefect lease of one slot. A process keeps a lease while it has another request waiting for one, and
hands it straight to that request (no API call), so a run's rounds of requests cost one acquisition per
slot; a lease nobody in the process waits for goes back at once, so other workers take it. A lease
held past half its duration (a long job) is renewed.

A process has one acquisition in flight at a time: while the limit is full it polls, after the server's
Retry-After but never more than MAX_POLL_SECONDS later; while the limit has room it takes one slot after
another (a round trip of 15-30 ms each). Acquisitions side by side meet each other on a SQLite server: the
loser gets a "database is locked" 503 after about 2 s and Prefect's client waits 2 s more before trying
again, which cost a 400-chunk run 3 s when its first 16 slots were asked for in parallel.

Processes that compete for the cap for more than a moment keep only their fair share of it
(`fair_share.py` says why): a lease coming back to a process that holds its share goes to the server,
where a neighbour waiting for one takes it.
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

from tasks.synthesis import leases
from tasks.synthesis.fair_share import Membership, fair_share
from tasks.synthesis.per_loop import for_running_loop
from tasks.synthesis.retry_policy import parse_retry_after

MAX_POLL_SECONDS = 1.0  # a waiting process asks again at least this often, whatever the server suggests
MIN_POLL_SECONDS = 0.05
SERVER_ERROR_ATTEMPTS = 5  # an overloaded API answering 5xx, or a dropped connection, is tried this often
SERVER_ERROR_WAIT_SECONDS = 0.5  # doubled after each such failure (with jitter), at most 8 s
RELEASE_WAIT_SECONDS = 10.0  # a run ends after waiting this long for its releases (a lease lapses by itself)

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Lease:
    """One slot of the limit; `id` None when the limit does not exist (nothing to release: no cap applies)."""

    id: UUID | None
    renewal: asyncio.Task | None = field(default=None, repr=False)


class SlotPool:
    """The slots of one global limit that this process's requests hold, in one event loop."""

    def __init__(self, name: str, cap: int, members_limit: str | None = None) -> None:
        self.name = name
        self.cap = cap
        # None: this process takes whatever the cap leaves (no neighbours are counted)
        self._membership = Membership(members_limit, self._pump) if members_limit else None
        self.in_use = 0  # leases given to requests (handed over, even if the request has not resumed yet)
        self._waiters: deque[asyncio.Future[Lease]] = deque()
        self._acquiring: set[asyncio.Task] = set()
        self._releasing: set[asyncio.Task] = set()
        self._one_release_at_a_time = asyncio.Lock()  # side by side they meet a locked database on SQLite

    @property
    def share(self) -> int:
        """The most slots this process keeps: the cap, or its fair share while neighbours compete."""
        return fair_share(self.cap, self._membership.members) if self._membership else self.cap

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the block: waits for a lease handed over or acquired; gives it back after."""
        lease = await self._take()
        try:
            yield
        finally:
            await self._give_back(lease, from_request=True)

    async def settle(self) -> None:
        """Before a run ends: wait for acquisitions still under way (an acquisition gives back what it gets
        when nobody waits for it), then for releases, at most RELEASE_WAIT_SECONDS.

        Documents narrated side by side in one process share the pool, so a document whose requests are
        over waits here while its neighbours still acquire slots, and assembles after their synthesis.
        That is kept on purpose: letting it assemble at once put its CPU work in the same process (and
        under the same GIL) as its neighbours' requests, and the fleet benchmark's share of the provider's
        cap fell from 83-91 % to 74-77 %.
        """
        while self._acquiring:
            await asyncio.gather(*self._acquiring, return_exceptions=True)
        if self._releasing:  # a struggling API could hold them for minutes: their leases lapse by themselves
            await asyncio.wait(set(self._releasing), timeout=RELEASE_WAIT_SECONDS)
        if self._leave_when_nothing_waits():
            await self._membership.left(RELEASE_WAIT_SECONDS)

    async def _take(self) -> Lease:
        waiter: asyncio.Future[Lease] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._membership is not None:
            self._membership.join()
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
            self._leave_when_nothing_waits()
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
        waiter = self._next_waiter() if self.in_use < self.share else None
        if waiter is not None:
            self.in_use += 1
            waiter.set_result(lease)
            return
        self._leave_when_nothing_waits()
        # Released in the background: the request that held it goes on to check and store its answer
        # instead of waiting for the API (settle() waits for it before the run ends).
        task = asyncio.get_running_loop().create_task(self._release(lease))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    def _has_waiters(self) -> bool:
        return any(not waiter.done() for waiter in self._waiters)

    def _wants_lease(self) -> bool:
        return self.in_use < self.share and self._has_waiters()

    def _leave_when_nothing_waits(self) -> bool:
        """Stop counting among the competing processes once no request waits; True when it left."""
        if self._membership is None or self._has_waiters():
            return False
        self._membership.leave()
        return True

    def _pump(self) -> None:
        """Start an acquisition when a waiter has no lease coming, the share has room, and none is under way."""
        if self._acquiring or not self._wants_lease():
            return
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
        """A lease of one slot, polling while the limit is full; None when no waiter needs it any more.

        Prefect's client itself retries what the API answers with 429, 502, 503 or 408 (after 2 s, then
        4 s); what still fails after that, a 5xx or a dropped connection, is tried again here.
        """
        failures = 0
        async with get_client() as client:
            while self._wants_lease():
                try:
                    response = await leases.increment(client, self.name)
                except httpx.HTTPStatusError as error:
                    if error.response.status_code == 423:
                        await self._wait_for_room(error.response)
                        continue
                    if error.response.status_code < 500 or (failures := failures + 1) >= SERVER_ERROR_ATTEMPTS:
                        raise
                    await _back_off(failures)
                    continue
                except httpx.TransportError:
                    if (failures := failures + 1) >= SERVER_ERROR_ATTEMPTS:
                        raise
                    await _back_off(failures)
                    continue
                lease = Lease(leases.lease_id_of(response))
                if lease.id is not None:
                    lease.renewal = asyncio.get_running_loop().create_task(self._renew(lease.id))
                return lease
        return None

    async def _wait_for_room(self, response: httpx.Response) -> None:
        """After a 423: wait what the server suggests, within [MIN_POLL_SECONDS, MAX_POLL_SECONDS]."""
        suggested = parse_retry_after(response.headers.get("Retry-After")) or MAX_POLL_SECONDS
        await asyncio.sleep(min(MAX_POLL_SECONDS, max(MIN_POLL_SECONDS, suggested)) * random.uniform(0.8, 1.0))

    async def _renew(self, lease_id: UUID) -> None:
        """Keep a lease held longer than half its duration (a long job, a long run of hand-overs) alive."""
        while True:
            await asyncio.sleep(leases.renewal_interval())
            try:
                async with get_client() as client:
                    await leases.renew(client, lease_id)
            except Exception as error:  # noqa: BLE001 - the slot may be lost; the request goes on
                logger.warning("could not renew the lease of a %s slot: %s", self.name, error)

    async def _release(self, lease: Lease) -> None:
        if lease.renewal is not None:
            lease.renewal.cancel()
        if lease.id is None:
            return
        async with self._one_release_at_a_time:
            await leases.release(lease.id, f"a {self.name} slot")


async def _back_off(failures: int) -> None:
    """Wait before trying an API call again after its `failures`-th failure: doubling, jittered, at most 8 s."""
    await asyncio.sleep(min(8.0, SERVER_ERROR_WAIT_SECONDS * 2**failures) * random.uniform(0.8, 1.2))


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, int], SlotPool]] = (
    weakref.WeakKeyDictionary()
)


def slot_pool_for(name: str, cap: int, members_limit: str | None = None) -> SlotPool:
    """The running loop's pool for the limit `name` (made on first use, dropped once the loop is closed)."""
    pools = for_running_loop(_pools)
    pool = pools.get((name, cap))
    if pool is None:
        pool = pools[(name, cap)] = SlotPool(name, cap, members_limit)
    return pool
