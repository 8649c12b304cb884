"""Progress of a run: a Prefect progress artifact for the UI, and in-process listeners for the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from uuid import UUID

from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.context import FlowRunContext

Listener = Callable[[int, int, str], None]
ARTIFACT_TIMEOUT_SECONDS = 10.0
# The artifact is created once the first chunk is in, or this long after the report begins if none is.
# Created at once, it met the run's first requests for provider slots (global limits) at the API: on
# SQLite two writes at once make one of them wait, and the slot came 0.1 s later.
ARTIFACT_CREATE_DELAY_SECONDS = 1.0


async def _bounded(call):
    """Progress is for people watching: an API call that hangs or fails must not hold up synthesis."""
    try:
        return await asyncio.wait_for(call, ARTIFACT_TIMEOUT_SECONDS)
    except Exception as error:  # noqa: BLE001 - progress is best effort
        logging.getLogger(__name__).warning("progress artifact not updated: %r", error)
        return None


_listeners: list[Listener] = []


def add_listener(listener: Listener) -> None:
    """Call `listener(done, total, what)` as chunks complete in this process."""
    _listeners.append(listener)


def notify(what: str, done: int, total: int) -> None:
    """Tell this process's listeners (the CLI's progress bars) how far `what` has come."""
    for listener in list(_listeners):
        listener(done, total, what)


def remove_listener(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


class ProgressReport:
    """Counts completed chunks; updates the artifact at most every `interval` seconds.

    The artifact is for a person watching the UI, and each update is an API call: at one a second, a
    fleet narrating 60 documents made 300 of them, a seventh of all its API requests.
    """

    def __init__(self, total: int, what: str, interval: float = 5.0) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.what = what
        self.interval = interval
        self._artifact: UUID | None = None
        self._creating: asyncio.Task[None] | None = None
        self._first_done = asyncio.Event()
        self._last_update = 0.0

    def start(self, already_done: int = 0) -> None:
        """Count from `already_done`; the artifact is created beside the run, which does not wait for it,
        once the first chunk is in or ARTIFACT_CREATE_DELAY_SECONDS have passed."""
        self.done = already_done
        if FlowRunContext.get() is not None:
            self._creating = asyncio.create_task(self._create_artifact())
        self._notify()

    async def _create_artifact(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_done.wait(), ARTIFACT_CREATE_DELAY_SECONDS)
        shown = self.done
        self._artifact = await _bounded(
            acreate_progress_artifact(progress=self.percent, description=f"{self.what}: {shown} of {self.total}")
        )
        if self._artifact and self.done != shown:  # chunks completed while it was being created
            self._last_update = time.monotonic()
            await _bounded(
                aupdate_progress_artifact(
                    self._artifact, progress=self.percent, description=f"{self.what}: {self.done} of {self.total}"
                )
            )

    def close(self) -> None:
        """The run is past this phase: an artifact not created by now is not wanted."""
        if self._creating is not None and not self._creating.done():
            self._creating.cancel()

    @property
    def percent(self) -> float:
        return round(100.0 * self.done / self.total, 1)

    def _notify(self) -> None:
        notify(self.what, self.done, self.total)

    async def advance(self, count: int = 1) -> None:
        self.done = min(self.total, self.done + count)
        self._first_done.set()
        self._notify()
        now = time.monotonic()
        if self._artifact and (now - self._last_update >= self.interval or self.done >= self.total):
            self._last_update = now
            await _bounded(
                aupdate_progress_artifact(
                    self._artifact, progress=self.percent, description=f"{self.what}: {self.done} of {self.total}"
                )
            )


_reports: dict[str, ProgressReport] = {}


def begin(run_id: str, total: int, what: str, already_done: int = 0) -> ProgressReport:
    """Start the report of one flow run (its artifact is created in the background: the first requests need
    not wait for that API call); tasks of that run find it with `report_for`."""
    report = ProgressReport(total, what)
    _reports[run_id] = report
    report.start(already_done)
    return report


def report_for(run_id: str | None) -> ProgressReport | None:
    return _reports.get(run_id) if run_id else None


def end(run_id: str) -> None:
    if (report := _reports.pop(run_id, None)) is not None:
        report.close()
