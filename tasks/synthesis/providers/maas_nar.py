"""MaaS-nar, the whole protocol: short requests answer audio at once; longer chunks run as long jobs.

A long job is submitted once, remembered in a job record beside the chunk store (task id and
status URL, written before the first poll), polled, and its result streamed to a temporary file,
checked and stored. A run that crashed, was cancelled or killed finds the record and polls the
same job instead of paying for another; the record goes once the audio is in the chunk store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from pydantic import BaseModel

from blocks.maas_nar import MaasNar
from speech_audio.encodings import AudioEncoding, AudioKind
from tasks.errors import NarrationInputError, ProviderError
from tasks.models import ChunkAudio, PlannedChunk, SynthesizedAudio
from tasks.store.atomic_files import write_bytes_atomic
from tasks.store.chunk_store import ChunkStore
from tasks.store.whole_reads import read_whole
from tasks.synthesis.audio_check import check_audio
from tasks.synthesis.provider_urls import check_provider_url
from tasks.synthesis.providers.answer_body import discard_file, new_answer_file
from tasks.synthesis.providers.http import HttpEngine
from tasks.synthesis.retry_policy import call_with_retries, is_retryable, may_have_been_received

BODY_TYPES = {
    "text": "text/plain; charset=utf-8",
    "form": "application/x-www-form-urlencoded",
    "vtt": "text/vtt",
    "srt": "application/x-subrip",
}


def speed_parameter(speed: float) -> str:
    """voice-speed: the contract's words where they fit exactly, else the number."""
    return {1.0: "normal"}.get(speed, f"{speed:g}")


class MaasNarEngine(HttpEngine):
    block_type = MaasNar
    block: MaasNar
    accepts_subtitle_files = True

    @property
    def language(self) -> str:
        return "zh" if self.voice in ("Yifei", "Xiaomo", "Yunyang") else "en"

    async def prepare(self) -> None:
        if not 0.3 <= self.speed <= 2.0:
            raise NarrationInputError("speed", f"{self.speed} is outside maas-nar's range 0.3 to 2")
        if not self.voice or not self.voice.isalnum():
            raise NarrationInputError(
                "voice", f"{self.voice!r} is not a MaaS-nar voice name (letters and digits, e.g. Yifei)"
            )

    def identity(self) -> dict[str, Any]:
        return super().identity() | {
            "voice": self.voice,
            "speed": self.speed,
            "volume": self.block.volume,
            "short_format": self.block.short_format,
            "long_format": self.block.long_format,
            "short_max": self.block.short_max_characters,
        }

    def is_long(self, chunk: PlannedChunk) -> bool:
        return len(chunk.text) > self.block.short_max_characters

    def query(self) -> dict[str, str]:
        return {"voice": self.voice, "voice-speed": speed_parameter(self.speed), "voice-volume": self.block.volume}

    def body(self, chunk: PlannedChunk) -> tuple[bytes, str]:
        """The request body and its Content-Type: subtitle sources go whole, as what they are."""
        kind = chunk.context.get("body_type", "text")
        return chunk.context.get("body", chunk.spoken).encode("utf-8"), BODY_TYPES[kind]

    async def synthesize(self, chunk: PlannedChunk) -> SynthesizedAudio:
        body, content_type = self.body(chunk)
        _, answer = await self.send_for_audio(
            "POST",
            f"/tts-n/text-to-speech/{self.block.short_format}",
            params=self.query(),
            content=body,
            headers={"Accept": "application/octet-stream", "Content-Type": content_type},
        )
        return SynthesizedAudio(
            audio=answer.audio,
            audio_file=answer.file,
            encoding=AudioEncoding(kind=AudioKind(self.block.short_format)),
        )


# Long jobs: submit, poll, download, and the loop that resumes them.

EXPIRED_RESULT_STATUSES = frozenset({403, 404, 410})
STATUS_ERRORS_TOLERATED = 8
DOWNLOAD_ATTEMPTS = 5  # downloads are free: a broken transfer is fetched again before a paid resubmission


MAX_AMBIGUOUS_RESUBMISSIONS = 1  # a submission that may already be billed is repeated once, never more
GONE_STATUSES = frozenset({404, 410})


class JobRecord(BaseModel):
    task_id: str
    status_url: str
    submitted_at: float
    submission: int = 1
    ambiguous_repeats: int = 0


class JobStatus(BaseModel):
    finished: bool
    percent: float = 0
    succeeded: bool = False
    result: str | None = None
    message: str | None = None


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
            return JobRecord.model_validate_json(read_whole(self.fs, self._path(key)))
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

    ambiguous = 0

    async def attempt_once_more_at_most_after_an_ambiguous_failure() -> JobRecord:
        nonlocal ambiguous
        if ambiguous > MAX_AMBIGUOUS_RESUBMISSIONS:
            raise ProviderError(
                engine.label,
                "the last submissions may have been accepted and billed without an answer; not submitting again",
            )
        try:
            record = await attempt()
        except BaseException as error:
            if may_have_been_accepted(error):
                ambiguous += 1
            raise
        return record.model_copy(update={"ambiguous_repeats": ambiguous})

    return await call_with_retries(
        attempt_once_more_at_most_after_an_ambiguous_failure,
        attempts=engine.block.max_attempts,
        max_wait=engine.block.max_retry_wait_seconds,
    )


def may_have_been_accepted(error: BaseException) -> bool:
    """A submission that reached the provider and then failed: it may be running (and billed) already.

    Besides what may have reached any provider (retry_policy.may_have_been_received), a 200 without a
    usable job is ambiguous here: the job may exist.
    """
    if isinstance(error, ProviderError) and error.status is not None and 200 <= error.status < 300:
        return True
    return may_have_been_received(error)


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
            if response.status_code in GONE_STATUSES:
                raise JobFailed(
                    engine.label, f"task {record.task_id} is unknown to the provider", status=response.status_code
                )
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
            raise JobFailed(
                engine.label, f"task {record.task_id} did not finish within {block.job_timeout_seconds:.0f} s"
            )
        await asyncio.sleep(block.poll_interval_seconds)


async def download_result(engine: MaasNarEngine, client: httpx.AsyncClient, url: str, record: JobRecord) -> str:
    """Stream the result to a local temporary file, refusing more than the block's cap; returns its path."""
    check_provider_url(url, engine.block.endpoint, engine.label, "result URL")
    cap = engine.block.max_result_bytes
    handle, path = new_answer_file(engine.answer_folder)
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
        discard_file(path)
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
            discard_file(path)
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


UNUSABLE_RESULT_RESUBMISSIONS = 1  # an expired or broken result is paid for once more, not again and again


async def run_long_job(
    engine: MaasNarEngine,
    chunk: PlannedChunk,
    store: ChunkStore,
    on_percent: Callable[[float], Awaitable[None]],
    logger: logging.Logger | logging.LoggerAdapter,
) -> ChunkAudio:
    """One chunk's audio through a long job; a job already submitted for this chunk is resumed, not paid again."""
    if stored := await asyncio.to_thread(store.get, chunk.key):
        return stored
    records = JobRecords(store)
    record = await asyncio.to_thread(records.get, chunk.key)
    submissions = record.submission if record else 0
    unusable = 0
    last_error: ProviderError | None = None
    status_client = httpx.AsyncClient(timeout=engine.block.timeout_seconds, follow_redirects=False)  # no Authorization
    try:
        while True:
            if record is None:
                if submissions >= engine.block.max_job_submissions:
                    raise last_error or ProviderError(engine.label, "no submissions left", chunk_index=chunk.index)
                submissions += 1
                record = await submit_job(engine, chunk, submissions)
                await asyncio.to_thread(records.put, chunk.key, record)
                logger.info("chunk %d: submitted long job %s (submission %d)", chunk.index, record.task_id, submissions)
            else:
                logger.info("chunk %d: resuming long job %s", chunk.index, record.task_id)
            try:
                status = await poll_job(engine, status_client, record, on_percent)
            except JobFailed as error:  # forgotten by the provider, or timed out: dropped, submitted again once
                last_error = error.for_chunk(chunk.index)
                logger.warning("%s; the job record is dropped", last_error)
                await asyncio.to_thread(records.forget, chunk.key)
                record = None
                continue
            if not status.succeeded:
                last_error = JobFailed(
                    engine.label,
                    f"task {record.task_id} failed: {status.message or 'no reason given'}",
                    chunk_index=chunk.index,
                )
                logger.warning("%s", last_error)
                await asyncio.to_thread(records.forget, chunk.key)
                record = None
                continue
            try:
                local, duration = await download_checked(engine, status_client, status.result or "", record, chunk.text)
            except JobFailed as error:
                unusable += 1
                last_error = error.for_chunk(chunk.index)
                logger.warning("%s", last_error)
                await asyncio.to_thread(records.forget, chunk.key)
                record = None
                if unusable > UNUSABLE_RESULT_RESUBMISSIONS:
                    raise last_error from None
                continue
            result = SynthesizedAudio(audio_file=local, encoding=long_job_encoding(engine), request_id=record.task_id)
            try:
                entry = await asyncio.to_thread(store.put, chunk.key, result, duration)
            finally:
                discard_file(local)  # moved into the store, unless storing failed
            await asyncio.to_thread(records.forget, chunk.key)
            if record.ambiguous_repeats:
                logger.warning(
                    "chunk %d: submitted %d more time(s) after a failure that may have been billed",
                    chunk.index,
                    record.ambiguous_repeats,
                )
            return entry.model_copy(update={"paid_requests": submissions + record.ambiguous_repeats})
    except ProviderError as error:
        raise error.for_chunk(chunk.index) from None
    finally:
        await status_client.aclose()
