"""One retry policy for every provider: what to retry, and how long to wait before trying again.

Prefect's own task retries cannot honour a provider's `Retry-After`, so each request is
retried here (with tenacity), and Prefect's task retries stay as the outer layer that re-runs
a whole batch, which the chunk store makes cheap: stored chunks are never requested again.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from tasks.errors import AudioCheckError, NarrationInputError, ProviderError

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
T = TypeVar("T")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


AMBIGUOUS_STATUSES = frozenset({500, 502, 504})  # something broke after the request went in


def may_have_been_received(error: BaseException) -> bool:
    """Whether a failed request may have reached the provider (and so may be billed, or running as a job).

    A refused connection, a 4xx or a 503 (the service refusing work) surely was not taken; a timeout
    while waiting for the answer, a reset after sending, or a 500, 502 or 504 is ambiguous.
    """
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        return False
    if isinstance(error, httpx.TransportError):
        return True
    if isinstance(error, ProviderError):
        return error.status is None or error.status in AMBIGUOUS_STATUSES
    return False


def is_retryable(error: BaseException) -> bool:
    """Worth another paid attempt: transient statuses, broken connections, timeouts, bad audio."""
    if isinstance(error, ProviderError):
        return error.retryable
    return isinstance(error, httpx.TransportError | AudioCheckError)


class _WaitRetryAfterOrBackoff:
    """Retry-After when the provider gave one (capped), else exponential backoff with full jitter.

    `attempts_before`: attempts made before tenacity took over, so its backoff goes on from there.
    """

    def __init__(self, cap: float, base: float, attempts_before: int = 0) -> None:
        self.cap = cap
        self.base = base
        self.attempts_before = attempts_before

    def after(self, error: BaseException | None, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based) ended with `error`."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(self.cap, retry_after)
        return random.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return self.after(error, state.attempt_number + self.attempts_before)


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    max_wait: float,
    base_wait: float = 0.5,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> T:
    """Run `call` until it succeeds, fails for good, or `attempts` are spent; re-raises the last error.

    The first attempt runs bare: building tenacity's machinery for every request cost a visible
    share of a 400-chunk run's CPU, and most requests succeed at once.
    """
    try:
        return await call()
    except BaseException as error:
        if attempts <= 1 or not is_retryable(error):
            raise
        wait = _WaitRetryAfterOrBackoff(max_wait, base_wait, attempts_before=1)
        first_wait = wait.after(error, 1)
        if on_retry:
            on_retry(error, first_wait)
    await asyncio.sleep(first_wait)

    def before_sleep(state: RetryCallState) -> None:
        if on_retry and state.outcome and state.next_action:
            on_retry(state.outcome.exception(), state.next_action.sleep)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts - 1),
        wait=wait,
        retry=retry_if_exception(is_retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    return await retrying(call)


def retry_task_unless_input_error(task, task_run, state) -> bool:
    """Prefect `retry_condition_fn`: re-run a failed batch unless the input itself was refused.

    A plain function on purpose: Prefect silently disables retries for partials and callables.
    """
    error = state.data if isinstance(state.data, BaseException) else None
    if isinstance(error, NarrationInputError):
        return False
    if isinstance(error, ProviderError):
        return error.retryable
    return True
