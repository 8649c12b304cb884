"""How many processes ask for a provider's slots right now, so that each keeps only its share of the cap.

Prefect's global limits are not a queue: a freed slot goes to whoever asks first, and a process hands
its leases from request to request (`slot_pool.py`). So the run that started first kept most of the cap
to its end while the runs beside it waited, and the fleet's last run then narrated alone, where one
process cannot keep the whole cap busy: in the fleet benchmark, three runs started within a second
ended 89, 104 and 114 s later, and 6.0 of 8 slots were in use over their last 30 s (7.4-7.6 now).

A process that has had requests waiting for slots for JOIN_AFTER_SECONDS counts itself in: it holds one
slot of the provider's members limit (a limit no fleet fills), as a lease. The limit's active slots are
then the number of processes competing; each member reads it every WATCH_SECONDS and keeps at most
the cap divided by it, rounded up (so the shares of processes that all want more cover the cap). A
process leaves as soon as none of its requests waits, whatever it still holds: a long job holding one
slot for minutes does not shrink its neighbours' shares. Short runs never join; a member pays one API
call a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from uuid import UUID

from prefect.client.orchestration import get_client

from tasks.synthesis import leases

MEMBERS_LIMIT = 100_000  # "unlimited": the limit only counts
JOIN_AFTER_SECONDS = 1.0  # requests that wait less than this do not compete for long
WATCH_SECONDS = 1.0  # how stale a member's count may be: a share grows this long after a neighbour leaves

logger = logging.getLogger(__name__)


def members_limit_name(in_flight_limit: str) -> str:
    return f"{in_flight_limit}-members"


def fair_share(cap: int, members: int) -> int:
    """The slots one of `members` processes keeps: the cap split between them, rounded up."""
    return max(1, math.ceil(cap / max(1, members)))


class Membership:
    """This process's place among those competing for one limit, and their number as last read."""

    def __init__(self, name: str, on_change: Callable[[], None]) -> None:
        self.name = name
        self.members = 1
        self._on_change = on_change  # a share that grows lets the pool acquire again
        self._task: asyncio.Task | None = None
        self._leave = asyncio.Event()
        self._leaving = False  # past the point where a new demand could keep this membership

    def join(self) -> None:
        """Count this process in once it has had requests waiting for JOIN_AFTER_SECONDS; idempotent."""
        self._leave.clear()
        if self._task is None or self._task.done() or self._leaving:
            self._leaving = False
            self._task = asyncio.get_running_loop().create_task(self._be_member())

    def leave(self) -> None:
        """No request waits any more (whatever this process holds): stop counting, or do not join."""
        self._leave.set()

    async def left(self, timeout: float) -> None:
        """Wait (at most `timeout`) until the membership is handed back."""
        if self._task is not None and not self._task.done():
            await asyncio.wait({self._task}, timeout=timeout)

    async def _sleep_unless_leaving(self, seconds: float) -> bool:
        """Sleep `seconds`; True when asked to leave meanwhile (and from then on, a join starts anew)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._leave.wait()
        if self._leave.is_set():
            self._leaving = True  # before any await: a join from now on starts another membership
        return self._leaving

    async def _be_member(self) -> None:
        if await self._sleep_unless_leaving(JOIN_AFTER_SECONDS):
            return
        loop = asyncio.get_running_loop()
        lease_id: UUID | None = None
        try:
            async with get_client() as client:
                lease_id = leases.lease_id_of(await leases.increment(client, self.name))
                if lease_id is None:
                    return  # the limit does not exist (made before this version): every process takes the cap
                renewed = loop.time()
                while True:
                    limit = await client.read_global_concurrency_limit_by_name(self.name)
                    self._set(limit.active_slots)
                    if await self._sleep_unless_leaving(WATCH_SECONDS):
                        break
                    if loop.time() - renewed > leases.renewal_interval():
                        await leases.renew(client, lease_id)
                        renewed = loop.time()
        except Exception as error:  # noqa: BLE001 - without a count, this process takes what the cap leaves
            logger.warning("could not count the processes sharing %s: %s", self.name, error)
        finally:
            self._leaving = True  # also after an error: the next join starts another membership
            self._set(1)
            if lease_id is not None:
                await leases.release(lease_id, f"the membership of {self.name}")

    def _set(self, members: int) -> None:
        members = max(1, members)
        if members != self.members:
            grew = members < self.members
            self.members = members
            if grew:
                self._on_change()
