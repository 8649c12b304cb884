"""MaaS-nar long jobs: submit once, remember the job in storage, poll, stream the result to storage.

The job record (task id and status URL) is written before the first poll, under the chunk's
key; a run that crashed, was cancelled or killed finds it and polls the same job instead of
paying for another. The record goes once the audio is in the chunk store.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from pydantic import BaseModel

from speech_audio.encodings import AudioEncoding, AudioKind
from tasks.atomic_files import write_bytes_atomic
from tasks.audio_check import check_audio
from tasks.chunk_store import ChunkStore
from tasks.errors import ProviderError
from tasks.models import PlannedChunk
from tasks.provider_urls import check_provider_url
from tasks.providers.maas_nar import MaasNarEngine
from tasks.retry_policy import call_with_retries, is_retryable

EXPIRED_RESULT_STATUSES = frozenset({403, 404, 410})
STATUS_ERRORS_TOLERATED = 8
DOWNLOAD_ATTEMPTS = 5  # downloads are free: a broken transfer is fetched again before a paid resubmission


class JobRecord(BaseModel):
    task_id: str
    status_url: str
    submitted_at: float
    submission: int = 1


class JobStatus(BaseModel):
    finished: bool
    percent: float = 0
    succeeded: bool = False
    result: str | None = None
    message: str | None = None
    durationInSeconds: float | None = None  # noqa: N815 - the provider's field name


class JobFailed(ProviderError):
    """The job finished without audio, or its result could not be fetched: worth one more submission."""


class JobRecords:
    """Job records beside the chunk store: `<store>/jobs/<chunk key>.json`."""

    def __init__(self, store: ChunkStore) -> None:
        self.fs = store.fs
        self.root = f"{store.root}/jobs"

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}.json"

    def get(self, key: str) -> JobRecord | None:
        try:
            return JobRecord.model_validate_json(self.fs.cat_file(self._path(key)))
        except FileNotFoundError:
            return None

    def put(self, key: str, record: JobRecord) -> None:
        write_bytes_atomic(self.fs, self._path(key), record.model_dump_json().encode())

    def forget(self, key: str) -> None:
        try:
            self.fs.rm(self._path(key))
        except FileNotFoundError:
            pass


async def submit_job(engine: MaasNarEngine, chunk: PlannedChunk, submission: int) -> JobRecord:
    """One paid submission (no Accept header, per the contract); retried only when it surely failed."""
    body, content_type = engine.body(chunk)

    async def attempt() -> JobRecord:
        response = await engine.send(
            "POST",
            f"/tts-n/text-to-speech/{engine.block.long_format}",
            params=engine.query(),
            content=body,
            headers={"Content-Type": content_type},
        )
        try:
            answer = response.json()
        except json.JSONDecodeError:
            raise ProviderError(engine.label, "the long-job answer is not JSON", status=response.status_code) from None
        status_url = check_provider_url(answer.get("statusUrl"), engine.block.endpoint, engine.label, "status URL")
        task_id = str(answer.get("taskId") or "")
        if not task_id:
            raise ProviderError(engine.label, "the long-job answer has no taskId")
        return JobRecord(task_id=task_id, status_url=status_url, submitted_at=time.time(), submission=submission)

    return await call_with_retries(
        attempt, attempts=engine.block.max_attempts, max_wait=engine.block.max_retry_wait_seconds
    )


async def poll_job(
    engine: MaasNarEngine,
    status_client: httpx.AsyncClient,
    record: JobRecord,
    on_percent: Callable[[float], Awaitable[None]],
) -> JobStatus:
    """Poll until finished; tolerate bursts of status errors and malformed answers; time out naming the task."""
    block = engine.block
    deadline = record.submitted_at + block.job_timeout_seconds
    errors = 0
    while True:
        try:
            response = await status_client.get(record.status_url)
            response.raise_for_status()
            status = JobStatus.model_validate(response.json())
            errors = 0
        except (httpx.HTTPError, ValueError) as error:
            errors += 1
            if errors > STATUS_ERRORS_TOLERATED:
                raise ProviderError(
                    engine.label, f"status of task {record.task_id} kept failing: {error}", retryable=True
                ) from None
            await asyncio.sleep(min(block.max_retry_wait_seconds, block.poll_interval_seconds * 2 ** min(errors, 5)))
            continue
        await on_percent(status.percent)
        if status.finished:
            return status
        if time.time() > deadline:
            raise ProviderError(
                engine.label,
                f"task {record.task_id} did not finish within {block.job_timeout_seconds:.0f} s",
                retryable=False,
            )
        await asyncio.sleep(block.poll_interval_seconds)


async def download_result(engine: MaasNarEngine, client: httpx.AsyncClient, url: str, record: JobRecord) -> str:
    """Stream the result to a local temporary file, refusing more than the block's cap; returns its path."""
    check_provider_url(url, engine.block.endpoint, engine.label, "result URL")
    cap = engine.block.max_result_bytes
    handle, path = tempfile.mkstemp(prefix="nar-result-")
    try:
        with os.fdopen(handle, "wb") as file:
            async with client.stream("GET", url) as response:
                if response.status_code in EXPIRED_RESULT_STATUSES:
                    raise JobFailed(
                        engine.label,
                        f"the result of task {record.task_id} is no longer available",
                        status=response.status_code,
                    )
                if not response.is_success:
                    raise ProviderError(
                        engine.label, f"downloading task {record.task_id}", status=response.status_code, retryable=True
                    )
                declared = int(response.headers.get("Content-Length") or 0)
                if declared > cap:
                    raise ProviderError(
                        engine.label,
                        f"the result of task {record.task_id} is {declared:,} bytes, over the cap of {cap:,}",
                    )
                size = 0
                async for piece in response.aiter_bytes(1 << 16):
                    size += len(piece)
                    if size > cap:
                        raise ProviderError(
                            engine.label, f"the result of task {record.task_id} is over the cap of {cap:,} bytes"
                        )
                    file.write(piece)
        return path
    except BaseException:
        os.unlink(path)
        raise


async def download_checked(
    engine: MaasNarEngine, client: httpx.AsyncClient, url: str, record: JobRecord, text: str
) -> tuple[str, float]:
    """Download the result and check its audio; fetch again on a broken transfer or bad audio.

    Returns the local file and its duration. After DOWNLOAD_ATTEMPTS the job counts as failed
    (JobFailed), so the caller may pay for one more submission; an expired URL fails at once.
    """
    encoding = long_job_encoding(engine)

    async def attempt() -> tuple[str, float]:
        path = await download_result(engine, client, url, record)
        try:
            with open(path, "rb") as audio:
                return path, await asyncio.to_thread(check_audio, audio, encoding, text, engine.speed)
        except BaseException:
            os.unlink(path)
            raise

    try:
        return await call_with_retries(
            attempt, attempts=DOWNLOAD_ATTEMPTS, max_wait=engine.block.max_retry_wait_seconds
        )
    except Exception as error:
        if not is_retryable(error):  # an expired result (JobFailed), a result over the cap…
            raise
        raise JobFailed(engine.label, f"the result of task {record.task_id} is unusable: {error}") from None


def long_job_encoding(engine: MaasNarEngine) -> AudioEncoding:
    return AudioEncoding(kind=AudioKind(engine.block.long_format))


def describe(status: JobStatus) -> dict[str, Any]:
    return status.model_dump(exclude={"result"})
