"""The emulator's time-weighted mean of requests in flight: the figure B7 holds a fleet's use of a cap to.

The accounting is driven with known arrival and answer times first (exact figures), then by real
concurrent requests to an emulator process on a free loopback port (figures within scheduling noise).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tts_emulator.process import EmulatorProcess
from tts_emulator.state import RouteStats

GEORGE = "JBFqnCBsd6RMkjVDRZzb"


def test_before_any_request_there_is_no_span_and_no_mean():
    assert RouteStats().in_flight_over_time() == (0.0, 0.0)


def test_the_mean_weighs_each_count_by_how_long_it_lasted_idle_gaps_included():
    stats = RouteStats()
    # 0-1 s: one in flight; 1-3 s: two; 3-4 s: one; 4-6 s: none (still work to come); 6-7 s: one.
    stats.arrive(100.0)
    stats.arrive(101.0)
    stats.leave(103.0)
    stats.leave(104.0)
    stats.arrive(106.0)
    stats.leave(107.0)
    mean, span = stats.in_flight_over_time(200.0)  # after the last answer, time no longer counts
    assert span == pytest.approx(7.0)
    assert mean == pytest.approx((1 + 2 * 2 + 1 + 0 + 1) / 7)
    assert stats.max_in_flight == 2 and stats.in_flight == 0


def test_a_snapshot_taken_mid_run_counts_the_requests_still_in_flight_up_to_now():
    stats = RouteStats()
    stats.arrive(10.0)
    stats.arrive(10.0)
    assert stats.in_flight_over_time(12.0) == pytest.approx((2.0, 2.0))
    stats.leave(13.0)
    assert stats.in_flight_over_time(14.0) == pytest.approx(((2 * 3 + 1) / 4, 4.0))


def test_a_fleet_that_keeps_the_cap_full_scores_the_cap_and_one_that_idles_does_not():
    full, idle = RouteStats(), RouteStats()
    for start in (0.0, 0.5, 1.0, 1.5):  # four rounds of 8 back to back, 0.5 s each
        for _ in range(8):
            full.arrive(start)
        for _ in range(8):
            full.leave(start + 0.5)
    for start in (0.0, 2.0):  # two rounds of 8 with 1.5 s of nothing between them
        for _ in range(8):
            idle.arrive(start)
        for _ in range(8):
            idle.leave(start + 0.5)
    assert full.in_flight_over_time() == pytest.approx((8.0, 2.0))
    assert idle.in_flight_over_time() == pytest.approx((8 * 1.0 / 2.5, 2.5))


@pytest.fixture(scope="module")
def emulator():
    process = EmulatorProcess("--speech", "tone")
    yield process
    process.stop()


def _speak(client: httpx.Client, text: str) -> None:
    response = client.post(
        f"/tts-e/text-to-speech/{GEORGE}",
        params={"output_format": "pcm_16000"},
        json={"text": text, "model_id": "eleven_multilingual_v2"},
    )
    response.raise_for_status()


def test_real_requests_concurrent_and_then_apart(emulator):
    """Four at once for 0.4 s average about four; two one after the other with a pause average under one."""
    emulator.reset(routes=True)
    emulator.set_route("ele", latency_seconds=0.4)
    headers = {"Authorization": "Bearer emulator-key"}
    with httpx.Client(base_url=emulator.url, headers=headers, timeout=10) as client:
        client.get("/_emulator/stats")  # the connection pool's first connection, made before timing starts
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: _speak(client, f"Sentence number {i}."), range(4)))
        together = emulator.stats("ele")
        emulator.reset()
        emulator.set_route("ele", latency_seconds=0.4)
        _speak(client, "The first of two.")
        time.sleep(0.4)  # the client has no work for a while: the span goes on, the mean drops
        _speak(client, "The second of two.")
        apart = emulator.stats("ele")
    assert together["served"] == 4 and together["in_flight"] == 0
    assert 3.0 <= together["mean_in_flight"] <= 4.0, together
    assert 0.4 <= together["in_flight_span_seconds"] <= 1.0, together
    # 0.8 s of one request in flight over a span of about 1.2 s: two thirds
    assert apart["in_flight_span_seconds"] >= 1.2, apart
    assert 0.5 <= apart["mean_in_flight"] <= 0.75, apart
