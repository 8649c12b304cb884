"""The provider gate: cap, answers in hand, 429 hold-off and pacing, measured on a real event loop."""

from __future__ import annotations

import asyncio

from tasks.synthesis.gate import ProviderGate, gate_for


def test_requests_in_flight_never_exceed_the_cap():
    async def main() -> int:
        gate = ProviderGate(cap=3)
        in_flight = peak = 0

        async def request() -> None:
            nonlocal in_flight, peak
            async with gate.request():
                in_flight += 1
                peak = max(peak, in_flight)
                await asyncio.sleep(0.01)
                in_flight -= 1

        await asyncio.gather(*(request() for _ in range(20)))
        return peak

    assert asyncio.run(main()) == 3


def test_answers_in_hand_are_bounded_to_twice_the_cap():
    async def main() -> int:
        gate = ProviderGate(cap=2)
        holding = peak = 0

        async def answer() -> None:
            nonlocal holding, peak
            async with gate.answer_in_hand():
                holding += 1
                peak = max(peak, holding)
                await asyncio.sleep(0.01)  # a slow check and store
                holding -= 1

        await asyncio.gather(*(answer() for _ in range(12)))
        return peak

    assert asyncio.run(main()) == 4


def test_a_429_holds_every_later_request_until_its_retry_after():
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        gate = ProviderGate(cap=4)
        gate.hold_off(0.15)
        started = loop.time()
        waits = []

        async def request() -> None:
            async with gate.request():
                waits.append(loop.time() - started)

        await asyncio.gather(*(request() for _ in range(4)))
        return waits

    assert all(wait >= 0.14 for wait in asyncio.run(main()))


def test_pacing_spaces_requests_evenly():
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        gate = ProviderGate(cap=8, requests_per_second=20)
        starts = []

        async def request() -> None:
            async with gate.request():
                starts.append(loop.time())

        await asyncio.gather(*(request() for _ in range(6)))
        return sorted(starts)

    starts = asyncio.run(main())
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.045 and starts[-1] - starts[0] >= 0.24


def test_one_gate_per_provider_and_loop_shared_by_every_run_in_it():
    async def main() -> tuple[bool, bool]:
        same = gate_for("maas-ele/a", 4) is gate_for("maas-ele/a", 4)
        other = gate_for("maas-ele/a", 4) is not gate_for("maas-ele/b", 4)
        return same, other

    assert asyncio.run(main()) == (True, True)


def test_a_new_event_loop_gets_its_own_gate():
    async def gate() -> ProviderGate:
        return gate_for("p", 1)

    first = asyncio.run(gate())  # kept alive, so its id cannot be reused
    assert asyncio.run(gate()) is not first
