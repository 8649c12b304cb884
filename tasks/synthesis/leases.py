"""Prefect concurrency leases of one slot: asked for, kept alive, handed back.

The slot pool (a provider's slots, `slot_pool.py`) and the membership of the processes sharing them
(`fair_share.py`) both hold slots this way, with the same duration and the same ways round a busy API.
"""

from __future__ import annotations

import asyncio
import logging
import random
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient, get_client

# A process killed with SIGKILL cannot hand its slots back; its leases lapse this long after their last
# renewal (60 s is the server's minimum), so a rerun after a kill may wait up to about a minute (the reason
# `global_limits` is opt-in, for providers shared by several workers), and a killed member of the processes
# sharing a cap keeps counting, shrinking its neighbours' shares, for as long.
LEASE_SECONDS = 60.0
QUICK_ATTEMPTS = 5  # a lease asked for this often, 0.01-0.16 s apart, before Prefect's client retries (2 s, 4 s)
QUICK_WAIT_SECONDS = 0.02  # a SQLite write holds the database for milliseconds: the first ask again comes soon

logger = logging.getLogger(__name__)


async def increment(client: PrefectClient, name: str) -> httpx.Response:
    """Ask for a one-slot lease of the limit `name`; a locked database is asked again soon, not after Prefect's 2 s.

    On a SQLite server a write that meets another (the server's own event writes, say) is answered 503
    within milliseconds, and Prefect's client sleeps 2 s before asking again, 4 s the next time: a run's
    first request waited 2.3 s for a slot that a 15 ms write gives. So the first asks go out without the
    client's retrying, a short jittered wait apart; after QUICK_ATTEMPTS the client asks, retrying its way.
    """
    body = {"names": [name], "slots": 1, "mode": "concurrency", "lease_duration": LEASE_SECONDS}
    http = client._client  # the client's own httpx client: its base URL, headers and transport
    for attempt in range(QUICK_ATTEMPTS):
        request = http.build_request("POST", "/v2/concurrency_limits/increment-with-lease", json=body)
        if http.enable_csrf_support:
            await http._add_csrf_headers(request)
        response = await httpx.AsyncClient.send(http, request)  # one try: the base class's send
        if response.status_code != 503:
            response.raise_for_status()
            return response
        if attempt < QUICK_ATTEMPTS - 1:  # after the last, the client's own call waits its way
            await asyncio.sleep(QUICK_WAIT_SECONDS * 2**attempt * random.uniform(0.5, 1.0))
    return await client.increment_concurrency_slots_with_lease(
        names=[name], slots=1, mode="concurrency", lease_duration=LEASE_SECONDS
    )


def lease_id_of(response: httpx.Response) -> UUID | None:
    """The lease an increment answered with; None when the limit does not exist (no cap applies)."""
    body = response.json()
    return UUID(body["lease_id"]) if body.get("limits") else None


def renewal_interval() -> float:
    """How often a lease still held is renewed: every half of its duration."""
    return LEASE_SECONDS / 2


async def renew(client: PrefectClient, lease_id: UUID) -> None:
    await client.renew_concurrency_lease(lease_id=lease_id, lease_duration=LEASE_SECONDS)


async def release(lease_id: UUID, what: str) -> None:
    """Hand a lease back; on failure, say so (it lapses by itself within LEASE_SECONDS) rather than raise."""
    try:
        async with get_client() as client:
            await client.release_concurrency_slots_with_lease(lease_id=lease_id)
    except Exception as error:  # noqa: BLE001 - the lease lapses by itself within LEASE_SECONDS
        logger.warning("could not hand back %s (it lapses within %.0f s): %s", what, LEASE_SECONDS, error)
