"""What is worth another paid attempt, and how long to wait: decision tables that fail if the policy changes."""

from __future__ import annotations

import asyncio
import email.utils
import time

import httpx
import pytest

from tasks.errors import AudioCheckError, NarrationInputError, ProviderError
from tasks.synthesis.providers.http import error_from_response
from tasks.synthesis.retry_policy import (
    call_with_retries,
    is_retryable,
    parse_retry_after,
    retry_task_unless_input_error,
)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (403, False), (404, False), (408, True), (409, True), (413, False), (422, False),
     (425, True), (429, True), (500, True), (501, False), (502, True), (503, True), (504, True)],
)  # fmt: skip
def test_status_classification(status, retryable):
    response = httpx.Response(status, json={"error": {"message": "words of the provider"}})
    error = error_from_response("openai-speech/x", response, max_wait=60)
    assert error.retryable is retryable
    assert is_retryable(error) is retryable
    assert error.status == status and "words of the provider" in str(error)


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (httpx.RemoteProtocolError("reset"), True),
        (AudioCheckError("silent"), True),
        (NarrationInputError("voice", "unknown"), False),
        (ValueError("a bug"), False),
        (ProviderError("p", "boom", retryable=True), True),
        (ProviderError("p", "no", retryable=False), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_error_classification(error, retryable):
    assert is_retryable(error) is retryable


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("", None), ("7", 7.0), (" 2.5 ", 2.5), ("-3", 0.0), ("soon", None)],
)
def test_retry_after_seconds(header, expected):
    assert parse_retry_after(header) == expected


def test_retry_after_http_date_is_seconds_from_now():
    now = time.time()
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


def test_retry_after_is_capped_by_the_blocks_longest_wait():
    response = httpx.Response(429, headers={"Retry-After": "3600"})
    assert error_from_response("p", response, max_wait=5).retry_after == 5


class _Flaky:
    def __init__(self, errors: list[BaseException]) -> None:
        self.errors = errors
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "audio"


def test_retries_stop_at_the_attempt_limit_and_reraise_the_last_error():
    flaky = _Flaky([ProviderError("p", f"try {i}", retryable=True, retry_after=0) for i in range(5)])
    with pytest.raises(ProviderError, match="try 2"):
        asyncio.run(call_with_retries(flaky, attempts=3, max_wait=0.01))
    assert flaky.calls == 3


def test_a_refusal_is_not_retried():
    flaky = _Flaky([ProviderError("p", "bad key", status=401), ProviderError("p", "never", retryable=True)])
    with pytest.raises(ProviderError, match="bad key"):
        asyncio.run(call_with_retries(flaky, attempts=5, max_wait=0.01))
    assert flaky.calls == 1


def test_a_transient_failure_then_success_returns_the_audio():
    waits: list[float] = []
    flaky = _Flaky([ProviderError("p", "busy", status=503, retryable=True, retry_after=0.02)])
    result = asyncio.run(call_with_retries(flaky, attempts=2, max_wait=1, on_retry=lambda e, w: waits.append(w)))
    assert result == "audio" and flaky.calls == 2 and waits == [0.02]


class _State:
    def __init__(self, data: object) -> None:
        self.data = data


@pytest.mark.parametrize(
    ("error", "rerun"),
    [
        (NarrationInputError("text", "empty"), False),
        (ProviderError("p", "refused", status=400), False),
        (ProviderError("p", "busy", status=503, retryable=True), True),
        (RuntimeError("worker lost"), True),
    ],
    ids=["input", "refused", "busy", "other"],
)
def test_prefect_reruns_a_failed_batch_unless_the_input_or_provider_refused_it(error, rerun):
    assert retry_task_unless_input_error(None, None, _State(error)) is rerun


@pytest.mark.parametrize(
    ("error", "received"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("no route"), False),
        (httpx.ReadTimeout("no answer"), True),
        (httpx.RemoteProtocolError("reset after sending"), True),
        (ProviderError("p", "busy", status=429), False),
        (ProviderError("p", "unavailable", status=503), False),
        (ProviderError("p", "bad request", status=400), False),
        (ProviderError("p", "broke", status=500), True),
        (ProviderError("p", "gateway", status=502), True),
        (ProviderError("p", "gateway timeout", status=504), True),
        (ProviderError("p", "no status URL in the answer"), True),
    ],
    ids=lambda value: str(value)[:40] if isinstance(value, BaseException) else str(value),
)
def test_what_may_have_reached_the_provider_and_so_be_billed(error, received):
    from tasks.synthesis.retry_policy import may_have_been_received

    assert may_have_been_received(error) is received
