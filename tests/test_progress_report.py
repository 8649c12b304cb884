"""When a run's progress artifact is made: once the first chunk is in, or after a delay, never after the run."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest

from tasks.output import progress


@pytest.fixture
def artifacts(monkeypatch):
    """The artifacts the report asks Prefect for, recorded instead of sent (no run, no API here)."""
    made: list[tuple[float, str]] = []
    updated: list[str] = []

    async def create(progress: float, description: str):
        made.append((progress, description))
        return uuid4()

    async def update(artifact_id, progress: float, description: str):
        updated.append(description)

    monkeypatch.setattr(progress, "acreate_progress_artifact", create)
    monkeypatch.setattr(progress, "aupdate_progress_artifact", update)
    monkeypatch.setattr(progress.FlowRunContext, "get", classmethod(lambda cls: object()))
    return made, updated


def test_the_artifact_waits_for_the_first_chunk(artifacts):
    made, updated = artifacts

    async def scenario() -> None:
        report = progress.ProgressReport(10, "chunks synthesized")
        report.start()
        await asyncio.sleep(0.05)
        assert made == []  # the run's first requests go out without meeting this write
        await report.advance()
        await asyncio.sleep(0.05)
        report.close()

    asyncio.run(scenario())
    assert made == [(10.0, "chunks synthesized: 1 of 10")] and updated == []


def test_with_no_chunk_in_the_artifact_comes_after_the_delay(artifacts, monkeypatch):
    made, _ = artifacts
    monkeypatch.setattr(progress, "ARTIFACT_CREATE_DELAY_SECONDS", 0.05)

    async def scenario() -> None:
        report = progress.ProgressReport(4, "long jobs", interval=60)
        report.start(already_done=1)
        await asyncio.sleep(0.2)
        report.close()

    asyncio.run(scenario())
    assert made == [(25.0, "long jobs: 1 of 4")]


def test_a_report_closed_before_then_makes_none(artifacts):
    made, _ = artifacts

    async def scenario() -> None:
        report = progress.ProgressReport(3, "chunks synthesized")
        report.start(already_done=3)  # everything was in the store: nothing will advance
        await asyncio.sleep(0.05)
        report.close()
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert made == []
