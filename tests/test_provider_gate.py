"""The provider gate: cap, answers in hand, 429 hold-off and pacing, measured on a real event loop."""

from __future__ import annotations

import asyncio

from tasks.synthesis.gate import AWAITING_STORE_BYTES, ProviderGate, gate_for


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


def test_long_answers_waiting_for_their_store_hold_new_requests_back_and_short_ones_never_wait():
    """Long answers arriving together (a run's first round) are stored before more go out; short ones never wait."""
    long_answer = AWAITING_STORE_BYTES // 3 + 1  # three of them fill the budget

    async def main(size: int) -> tuple[int, int]:
        gate = ProviderGate(cap=4)
        in_hand = peak_in_hand = peak_in_flight = in_flight = 0

        async def one() -> None:
            nonlocal in_hand, peak_in_hand, in_flight, peak_in_flight
            async with gate.answer_in_hand():
                async with gate.request():
                    in_flight += 1
                    peak_in_flight = max(peak_in_flight, in_flight)
                    await asyncio.sleep(0.005)  # the provider answers
                    in_flight -= 1
                with gate.awaiting_store(size):
                    in_hand += 1
                    peak_in_hand = max(peak_in_hand, in_hand)
                    await asyncio.sleep(0.03)  # a slow check and store
                    in_hand -= 1

        await asyncio.gather(*(one() for _ in range(24)))
        return peak_in_hand, peak_in_flight

    long_in_hand, long_in_flight = asyncio.run(main(long_answer))
    short_in_hand, short_in_flight = asyncio.run(main(1000))
    # Without the byte bound, answers awaiting their store reach twice the cap (8) here.
    assert long_in_hand <= 2 + 4  # under the budget's worth when the last requests left, plus those requests
    assert long_in_flight == 4
    assert short_in_hand == 8 and short_in_flight == 4
