"""The provider's slots across workers (tasks/synthesis/slot_pool.py, fair_share.py, leases.py), against in-memory global limits.

Each SlotPool stands for one worker process; the fake API below keeps the provider's limit as Prefect's
server does (all-or-nothing increments, 423 with Retry-After when full, leases released by id), and its
members limit, and counts the calls, so what a fleet costs the API, how much of the cap it keeps in use
and how the cap is shared are all checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import types
import uuid

import httpx
import pytest

from tasks.synthesis import fair_share, leases, slot_pool
from tasks.synthesis.slot_pool import SlotPool

LIMIT = "narration-provider-test"
MEMBERS = fair_share.members_limit_name(LIMIT)
REQUEST = httpx.Request("POST", "http://127.0.0.1/api/v2/concurrency_limits/increment-with-lease")


class FakeLimitApi:
    """One global concurrency limit, served the way Prefect's API answers the calls the pool makes."""

    def __init__(self, limit: int | None, retry_after: str = "0.01") -> None:
        self.limit = limit
        self.retry_after = retry_after
        self.leases: set[uuid.UUID] = set()
        self.members: set[uuid.UUID] = set()  # leases of the members limit (it never fills)
        self.members_seen = 0
        self.max_active = 0
        self.calls = {"increment": 0, "locked": 0, "release": 0, "renew": 0}
        self.fail_next = 0  # answer this many increments with 500
        self.locked_database_next = 0  # answer this many increments with 503, as SQLite's locked database is
        self.release_seconds = 0.0
        self.acquiring_now = 0
        self.max_acquiring = 0

    @contextlib.asynccontextmanager
    async def client(self):
        yield self

    @property
    def _client(self) -> httpx.AsyncClient:
        """The HTTP side, as Prefect's client has one: the pool sends its first asks for a lease through it."""
        http = httpx.AsyncClient(base_url="http://127.0.0.1/api", transport=httpx.MockTransport(self._answer))
        http.enable_csrf_support = False
        return http

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v2/concurrency_limits/increment-with-lease"
        body = json.loads(request.content)
        try:
            return await self.increment_concurrency_slots_with_lease(
                body["names"], body["slots"], body["mode"], body["lease_duration"]
            )
        except httpx.HTTPStatusError as error:
            return error.response

    async def increment_concurrency_slots_with_lease(self, names, slots, mode, lease_duration):
        assert names in ([LIMIT], [MEMBERS]) and slots == 1 and mode == "concurrency"
        if names == [MEMBERS]:
            lease = uuid.uuid4()
            self.members.add(lease)
            self.members_seen = max(self.members_seen, len(self.members))
            return httpx.Response(200, json={"lease_id": str(lease), "limits": [{"name": MEMBERS}]}, request=REQUEST)
        self.calls["increment"] += 1
        self.acquiring_now += 1
        self.max_acquiring = max(self.max_acquiring, self.acquiring_now)
        try:
            await asyncio.sleep(0.002)  # a round trip
            if self.locked_database_next:
                self.locked_database_next -= 1
                return httpx.Response(503, json={"exception_message": "Service Unavailable"}, request=REQUEST)
            if self.fail_next:
                self.fail_next -= 1
                raise httpx.HTTPStatusError("boom", request=REQUEST, response=httpx.Response(500, request=REQUEST))
            if self.limit is None:
                return httpx.Response(200, json={"lease_id": str(uuid.uuid4()), "limits": []}, request=REQUEST)
            if len(self.leases) >= self.limit:
                self.calls["locked"] += 1
                locked = httpx.Response(423, headers={"Retry-After": self.retry_after}, request=REQUEST)
                raise httpx.HTTPStatusError("locked", request=REQUEST, response=locked)
            lease = uuid.uuid4()
            self.leases.add(lease)
            self.max_active = max(self.max_active, len(self.leases))
            return httpx.Response(200, json={"lease_id": str(lease), "limits": [{"name": LIMIT}]}, request=REQUEST)
        finally:
            self.acquiring_now -= 1

    async def release_concurrency_slots_with_lease(self, lease_id):
        if lease_id in self.members:
            self.members.remove(lease_id)
            return
        self.calls["release"] += 1
        await asyncio.sleep(self.release_seconds)
        self.leases.remove(lease_id)

    async def renew_concurrency_lease(self, lease_id, lease_duration):
        assert lease_id in self.leases or lease_id in self.members
        self.calls["renew"] += 1
        if lease_id in self.members:
            self.calls["renew members"] = self.calls.get("renew members", 0) + 1

    async def read_global_concurrency_limit_by_name(self, name):
        assert name == MEMBERS
        return types.SimpleNamespace(active_slots=len(self.members))


@pytest.fixture
def api(monkeypatch) -> FakeLimitApi:
    fake = FakeLimitApi(limit=8)
    monkeypatch.setattr(slot_pool, "get_client", fake.client)
    monkeypatch.setattr(fair_share, "get_client", fake.client)
    monkeypatch.setattr(leases, "get_client", fake.client)
    monkeypatch.setattr(fair_share, "JOIN_AFTER_SECONDS", 0.05)
    monkeypatch.setattr(fair_share, "WATCH_SECONDS", 0.02)
    monkeypatch.setattr(slot_pool, "MAX_POLL_SECONDS", 0.02)
    monkeypatch.setattr(slot_pool, "SERVER_ERROR_WAIT_SECONDS", 0.001)
    return fake


async def requests(pool: SlotPool, count: int, seconds: float, in_flight: list[int], peak: list[int]) -> None:
    """`count` requests of `seconds` each, all started at once, each holding a slot while in flight."""

    async def one() -> None:
        async with pool.slot():
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
            await asyncio.sleep(seconds)
            in_flight[0] -= 1

    await asyncio.gather(*(one() for _ in range(count)))
    await pool.settle()


def test_one_run_acquires_each_slot_once_and_hands_it_from_request_to_request(api):
    in_flight, peak = [0], [0]
    asyncio.run(requests(SlotPool(LIMIT, 8), 20, 0.02, in_flight, peak))
    assert peak[0] == 8
    assert api.calls["increment"] == api.calls["release"] == 8  # not one pair per request (20)
    assert not api.leases


@pytest.mark.parametrize("counted", [False, True], ids=["taking-what-is-left", "fair-shares"])
def test_three_workers_share_the_cap_and_keep_it_in_use(api, counted):
    """Three processes with 60 requests each: never over the cap, and close to the ideal time (22.5 rounds)."""
    in_flight, peak = [0], [0]

    async def fleet() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        pools = [SlotPool(LIMIT, 8, MEMBERS if counted else None) for _ in range(3)]
        await asyncio.gather(*(requests(pool, 60, 0.05, in_flight, peak) for pool in pools))
        return loop.time() - started

    seconds = asyncio.run(fleet())
    assert api.max_active == peak[0] == 8
    assert not api.leases and not api.members
    assert api.members_seen == (3 if counted else 0)
    ideal = 180 / 8 * 0.05
    assert seconds < ideal * 1.4, seconds  # slots freed by one process are taken by another within a poll
    assert api.calls["increment"] - api.calls["locked"] == api.calls["release"]


def test_a_run_starting_beside_one_that_holds_the_cap_gets_its_share_and_they_end_together(api):
    """Two runs of 240 requests, the second started 0.1 s after the first. Without shares, the first hands
    its eight leases along until it is done (0.9 s) and the second narrates alone after it, 0.9 s later;
    a run alone is where one process cannot keep a real provider's cap busy. With them, the second holds
    four of the eight within moments, and both end within a round or two of each other."""

    async def scenario() -> tuple[float, float, float, int]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        first, second = SlotPool(LIMIT, 8, MEMBERS), SlotPool(LIMIT, 8, MEMBERS)
        held_by_second, most_held_by_second, ended = [0], [0], {}

        async def second_request() -> None:
            async with second.slot():
                held_by_second[0] += 1
                if first._has_waiters():  # while both have requests waiting (not in the first's last round)
                    most_held_by_second[0] = max(most_held_by_second[0], held_by_second[0])
                await asyncio.sleep(0.03)
                held_by_second[0] -= 1

        async def first_run() -> None:
            await requests(first, 240, 0.03, [0], [0])
            ended["first"] = loop.time() - started

        async def second_run() -> None:
            await asyncio.sleep(0.1)
            await asyncio.gather(*(second_request() for _ in range(240)))
            await second.settle()
            ended["second"] = loop.time() - started

        await asyncio.gather(first_run(), second_run())
        return ended["first"], ended["second"], loop.time() - started, most_held_by_second[0]

    first_ended, second_ended, total, most_held_by_second = asyncio.run(scenario())
    assert most_held_by_second == 4  # while both wait for slots, its share: not what the first leaves, nor more
    assert abs(first_ended - second_ended) < 0.45, (first_ended, second_ended)
    assert total < 480 / 8 * 0.03 * 1.4, total  # the cap stayed in use while they shared it
    assert api.max_active == 8 and not api.leases and not api.members


def test_a_process_holding_one_long_slot_does_not_shrink_its_busy_neighbours_share(api):
    """A long job holds one slot for long with nothing else waiting: it does not count as competing, so the
    busy process beside it keeps the other seven in use (with it counted, the busy one would keep four)."""

    async def scenario() -> int:
        long_job, busy = SlotPool(LIMIT, 8, MEMBERS), SlotPool(LIMIT, 8, MEMBERS)
        in_flight, peak = [0], [0]

        async def job() -> None:
            async with long_job.slot():
                await asyncio.sleep(0.8)
            await long_job.settle()

        async def later() -> None:
            await asyncio.sleep(0.01)
            await requests(busy, 160, 0.02, in_flight, peak)

        await asyncio.gather(job(), later())
        return peak[0]

    assert asyncio.run(scenario()) == 7
    assert api.members_seen == 1 and not api.members and not api.leases


def test_a_run_without_more_requests_gives_its_slots_back_at_once(api):
    """A run's last round keeps only the slots it uses: the rest go to another process while it finishes."""
    api.limit = 4

    async def scenario() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        first, second = SlotPool(LIMIT, 4), SlotPool(LIMIT, 4)
        started = loop.time()

        async def long_one() -> None:
            async with first.slot():
                await asyncio.sleep(0.3)

        async def short_one() -> None:
            async with first.slot():
                await asyncio.sleep(0.02)

        other_done = []

        async def other() -> None:
            await asyncio.sleep(0.005)
            async with second.slot():
                other_done.append(loop.time() - started)

        await asyncio.gather(long_one(), short_one(), short_one(), short_one(), other())
        return other_done[0], loop.time() - started

    other_got_one, total = asyncio.run(scenario())
    assert other_got_one < 0.15 < total  # not after the first process's long request ended
    assert not api.leases


def test_a_waiting_process_has_one_acquisition_in_flight(api):
    api.limit = 1

    async def scenario() -> None:
        holder, waiting = SlotPool(LIMIT, 8), SlotPool(LIMIT, 8)

        async def hold() -> None:
            async with holder.slot():
                await asyncio.sleep(0.2)

        async def wait() -> None:
            await asyncio.sleep(0.01)
            await requests(waiting, 8, 0.001, [0], [0])

        await asyncio.gather(hold(), wait())

    asyncio.run(scenario())
    assert api.calls["locked"] >= 5  # it polled while the holder held the only slot…
    assert api.max_acquiring <= 2  # …one acquisition at a time in each process (two processes), not one per request
    assert not api.leases


def test_the_wait_between_polls_is_capped_whatever_the_server_suggests(api):
    api.limit, api.retry_after = 1, "30"

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        holder, waiting = SlotPool(LIMIT, 1), SlotPool(LIMIT, 1)

        async def hold() -> None:
            async with holder.slot():
                await asyncio.sleep(0.05)

        async def wait() -> float:
            await asyncio.sleep(0.01)
            async with waiting.slot():
                return loop.time()

        started = loop.time()
        _, got = await asyncio.gather(hold(), wait())
        return got - started

    assert asyncio.run(scenario()) < 0.05 + 0.1


def test_a_server_error_is_retried_then_reported_to_the_request(api):
    api.fail_next = 2
    asyncio.run(requests(SlotPool(LIMIT, 8), 1, 0.001, [0], [0]))  # two 500s, then a lease
    assert api.calls["increment"] == 3 and not api.leases

    api.fail_next = 100

    async def doomed() -> None:
        async with SlotPool(LIMIT, 8).slot():
            pass

    with pytest.raises(httpx.HTTPStatusError):
        asyncio.run(doomed())
    assert not api.leases


def test_a_locked_database_is_asked_again_within_a_fraction_of_a_second(api):
    """Prefect's client waits 2 s after a 503; the pool's first asks do not, and then leave it to the client."""
    api.locked_database_next = 2

    async def first_slot() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        pool = SlotPool(LIMIT, 8)
        async with pool.slot():
            waited = loop.time() - started
        await pool.settle()
        return waited

    assert asyncio.run(first_slot()) < 0.5  # two short waits (0.01-0.02 s, then 0.02-0.04 s), not the client's 2 s
    assert api.calls["increment"] == 3 and not api.leases

    api.locked_database_next = leases.QUICK_ATTEMPTS  # still locked: the client's own call comes last
    asyncio.run(first_slot())
    assert api.calls["increment"] == 3 + leases.QUICK_ATTEMPTS + 1 and not api.leases


def test_without_the_limit_requests_go_uncapped_and_nothing_is_released(api):
    api.limit = None
    in_flight, peak = [0], [0]
    # each request outlasts eight acquisitions one after another (a round trip each), so all eight overlap
    asyncio.run(requests(SlotPool(LIMIT, 8), 12, 0.1, in_flight, peak))
    assert peak[0] == 8 and api.calls["release"] == 0


def test_a_lease_held_past_half_its_duration_is_renewed(api, monkeypatch):
    monkeypatch.setattr(leases, "LEASE_SECONDS", 0.1)
    asyncio.run(requests(SlotPool(LIMIT, 1), 1, 0.18, [0], [0]))
    assert api.calls["renew"] >= 2 and not api.leases


def test_a_membership_held_past_half_its_lease_is_renewed(api, monkeypatch):
    monkeypatch.setattr(leases, "LEASE_SECONDS", 0.1)
    # one slot, four requests of 0.1 s: some wait for 0.3 s, well past joining the members (0.05 s)
    asyncio.run(requests(SlotPool(LIMIT, 1, MEMBERS), 4, 0.1, [0], [0]))
    assert api.members_seen == 1 and api.calls.get("renew members", 0) >= 2
    assert not api.members and not api.leases


def test_a_cancelled_request_gives_its_slot_back(api):
    api.limit = 1

    async def scenario() -> None:
        pool = SlotPool(LIMIT, 1)

        async def hold() -> None:
            async with pool.slot():
                await asyncio.sleep(1)

        task = asyncio.create_task(hold())
        await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await requests(pool, 2, 0.001, [0], [0])

    asyncio.run(scenario())
    assert not api.leases


def test_a_run_ends_without_waiting_minutes_for_a_struggling_release(api, monkeypatch):
    """Releases go in the background; a run waits for them a bounded time (an unreleased lease lapses)."""
    monkeypatch.setattr(slot_pool, "RELEASE_WAIT_SECONDS", 0.05)
    api.release_seconds = 5.0

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        pool = SlotPool(LIMIT, 8)
        async with pool.slot():
            pass
        started = loop.time()
        await pool.settle()
        return loop.time() - started

    assert asyncio.run(scenario()) < 1.0
    assert api.calls["release"] == 1


def test_the_pools_of_closed_loops_are_let_go(api):
    """A warm runner narrates each request in a loop of its own: a closed loop's pool (whose lock and tasks
    refer to the loop) is dropped when another loop asks, or every narration would keep its loop."""

    async def one_narration() -> None:
        pool = slot_pool.slot_pool_for(LIMIT, 8, MEMBERS)
        async with pool.slot():
            pass
        await pool.settle()

    for _ in range(4):
        asyncio.run(one_narration())
    assert len(slot_pool._pools) == 1  # the last loop's, until the next narration asks
