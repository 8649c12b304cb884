"""MaaS-nar long jobs against the emulator: progress, failed and expired jobs, status errors, timeout, resume."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from flows.narrate import narrate
from flows.parameters import NarrationRequest
from tasks.errors import ProviderError
from tasks.output import progress
from tasks.synthesis.providers.maas_nar import DOWNLOAD_ATTEMPTS
from tests.audio_probe import decoded_duration
from tests.crash import kill_when, narrate_command, run_to_the_end
from tests.provider_blocks import save_block

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = (
    "This chapter is long enough to go as a long job. It has several sentences, and the provider works on it "
    "while we poll. When it is done we download the result at once.\n\nA second paragraph is a second job."
)
LONG = {"chunk_characters": 2000, "short_max_characters": 30, "poll_interval_seconds": 0.2}


def run(**fields):
    return asyncio.run(narrate(NarrationRequest(**fields)))


def long_provider(emulator, name: str, **fields) -> str:
    return save_block("maas-nar", emulator.url, name, **(LONG | fields))


def test_long_jobs_complete_with_progress(prefect_api_url, emulator, tmp_path):
    emulator.configure(job_seconds=1.5)
    seen: list[tuple[str, int]] = []

    def listener(done: int, total: int, what: str) -> None:
        seen.append((what, done))

    progress.add_listener(listener)
    try:
        manifest = run(text=CHAPTER, provider=long_provider(emulator, "long-ok"), output=str(tmp_path), name="chapter")
    finally:
        progress.remove_listener(listener)
    assert emulator.served("nar-submit") == len(manifest.chunks) == 2
    assert emulator.requests("nar-short") == 0
    assert emulator.requests("nar-status") >= 4
    percents = [done for what, done in seen if what.startswith("long job")]
    assert any(0 < p < 100 for p in percents) and max(percents) == 100
    assert abs(decoded_duration(manifest.audio, "mp3", manifest.sample_rate) - manifest.duration_seconds) <= 0.05
    assert manifest.chunks[0].request_id  # the task id
    assert not list((tmp_path / ".chunks" / "jobs").glob("*.json"))

    async def artifacts():
        async with get_client() as client:
            return await client.read_artifacts()

    assert any(
        a.type == "progress" and a.data == 100.0 and "Long job" in (a.description or "")
        for a in asyncio.run(artifacts())
    )


def test_a_failed_job_is_resubmitted(prefect_api_url, emulator, tmp_path):
    emulator.add_fault("nar-submit", kind="fail-job")
    manifest = run(text=CHAPTER, provider=long_provider(emulator, "long-fail"), output=str(tmp_path))
    assert emulator.served("nar-submit") == len(manifest.chunks) + 1


def test_a_job_that_keeps_failing_ends_with_the_providers_message(prefect_api_url, emulator, tmp_path):
    emulator.add_fault("nar-submit", kind="fail-job", times=None)
    with pytest.raises(ProviderError, match=r"failed: Synthesis failed: the voice engine stopped \(injected\)"):
        run(
            text=CHAPTER.split("\n\n")[0],
            provider=long_provider(emulator, "long-fail2", max_job_submissions=2),
            output=str(tmp_path),
        )
    assert emulator.served("nar-submit") == 2


def test_an_expired_result_is_resubmitted_once_then_fails(prefect_api_url, emulator, tmp_path):
    text = CHAPTER.split("\n\n")[0]
    emulator.add_fault("nar-result", kind="expire-result")
    run(text=text, provider=long_provider(emulator, "long-expired"), output=str(tmp_path / "a"))
    assert emulator.served("nar-submit") == 2
    emulator.reset()
    emulator.add_fault("nar-result", kind="expire-result", times=None)
    with pytest.raises(ProviderError, match="HTTP 403.*no longer available"):
        run(
            text=text,
            provider=long_provider(emulator, "long-expired", max_job_submissions=5),
            output=str(tmp_path / "b"),
        )
    assert emulator.served("nar-submit") == 2


def test_status_errors_and_malformed_answers_are_retried(prefect_api_url, emulator, tmp_path):
    emulator.add_fault("nar-status", kind="status", status=500, times=2)
    emulator.add_fault("nar-status", kind="malformed-status", times=2)
    manifest = run(text=CHAPTER.split("\n\n")[0], provider=long_provider(emulator, "long-status"), output=str(tmp_path))
    assert emulator.served("nar-submit") == 1 and manifest.duration_seconds > 3


def test_long_job_faults_on_every_route_cost_nothing_more_and_change_nothing(prefect_api_url, emulator, tmp_path):
    """Submit, status and download each fail in every transient way; the audio equals a clean run's.

    A broken download is fetched again (free), never paid for with a new submission.
    """
    provider = long_provider(emulator, "long-matrix", timeout_seconds=1.5, max_attempts=8)
    clean = run(text=CHAPTER, provider=provider, output=str(tmp_path / "clean"), name="chapter")
    emulator.reset()
    for fault in (  # refusals, and one failure after sending (a submission that failed so is repeated once only)
        {"kind": "status", "status": 429, "retry_after": "1"},
        {"kind": "status", "status": 503},
        {"kind": "reset"},
    ):
        emulator.add_fault("nar-submit", **fault)
    for fault in ({"kind": "status", "status": 500}, {"kind": "reset"}, {"kind": "malformed-status"}):
        emulator.add_fault("nar-status", **fault)
    for fault in ({"kind": "status", "status": 502}, {"kind": "truncate"}, {"kind": "garbage"}):
        emulator.add_fault("nar-result", **fault)
    run(text=CHAPTER, provider=provider, output=str(tmp_path / "faulty"), name="chapter")
    assert (tmp_path / "faulty" / "chapter.mp3").read_bytes() == (tmp_path / "clean" / "chapter.mp3").read_bytes()
    assert [emulator.stats(route)["faults"] for route in ("nar-submit", "nar-status", "nar-result")] == [3, 3, 3]
    assert emulator.served("nar-submit") == len(clean.chunks) == 2


def test_a_job_whose_result_is_silent_is_paid_once_more_and_never_trusted(prefect_api_url, emulator, tmp_path):
    emulator.add_fault("nar-submit", kind="silence")
    manifest = run(text=CHAPTER, provider=long_provider(emulator, "long-silent"), output=str(tmp_path))
    assert emulator.served("nar-submit") == len(manifest.chunks) + 1
    assert (
        emulator.stats("nar-result")["served"] == len(manifest.chunks) + DOWNLOAD_ATTEMPTS
    )  # the silent result, fetched again and again


def test_a_job_that_never_finishes_times_out_naming_the_task(prefect_api_url, emulator, tmp_path):
    emulator.configure(job_seconds=60)
    with pytest.raises(ProviderError, match=r"task [0-9a-f]{32} did not finish within 1 s"):
        run(
            text=CHAPTER.split("\n\n")[0],
            provider=long_provider(emulator, "long-slow", job_timeout_seconds=1),
            output=str(tmp_path),
        )
    assert emulator.served("nar-submit") == 2  # the timed-out job is dropped and submitted once more, not again


@pytest.mark.parametrize(
    ("suffix", "document", "content_type"),
    [
        (
            ".srt",
            "1\n00:00:00,000 --> 00:00:02,000\nHello from a subtitle file.\n\n2\n00:00:02,500 --> 00:00:04,000\nSecond cue & more.\n",
            "application/x-subrip",
        ),
        (
            ".vtt",
            "WEBVTT\n\n00:00.000 --> 00:02.000\nHello from a WebVTT file.\n\n00:02.500 --> 00:04.000\n第二条字幕。\n",
            "text/vtt",
        ),
    ],
)
def test_subtitle_files_are_sent_whole_with_their_content_type(
    prefect_api_url, emulator, tmp_path, suffix, document, content_type
):
    source = tmp_path / f"captions{suffix}"
    source.write_text(document, encoding="utf-8")
    manifest = run(
        source=str(source),
        provider=long_provider(emulator, "long-subs", short_max_characters=1000),
        output=str(tmp_path / "out"),
    )
    assert len(manifest.chunks) == 1 and manifest.duration_seconds > 2
    assert emulator.stats("nar-short")["notes"] == {content_type: 1}
    # its own cues come back, timed in the answer, in order
    source_cues = [line for line in document.splitlines()[1:] if line and "-->" not in line and not line.isdigit()]
    assert [sentence.text for sentence in manifest.sentences] == [c for c in source_cues if c != "WEBVTT"]
    starts = [sentence.start_seconds for sentence in manifest.sentences]
    assert starts == sorted(starts) and manifest.sentences[-1].end_seconds <= manifest.duration_seconds + 0.01
    manifest = run(
        source=str(source),
        provider=long_provider(emulator, "long-subs2", short_max_characters=10),
        output=str(tmp_path / "out2"),
    )
    assert emulator.stats("nar-submit")["notes"] == {content_type: 1}


@pytest.mark.slow
def test_a_killed_run_resumes_the_same_job_without_paying_again(prefect_env, emulator, tmp_path):
    emulator.configure(job_seconds=8)
    provider = long_provider(emulator, "long-resume")
    source = tmp_path / "chapter.txt"
    source.write_text(CHAPTER.split("\n\n")[0], encoding="utf-8")
    command = narrate_command(source, provider, tmp_path / "out")
    jobs = tmp_path / "out" / ".chunks" / "jobs"

    def polling() -> bool:
        return bool(list(jobs.glob("*.json"))) and emulator.requests("nar-status") >= 2

    assert kill_when(command, prefect_env, polling)
    assert emulator.served("nar-submit") == 1 and emulator.requests("nar-result") == 0
    second = run_to_the_end(command, prefect_env)
    assert second.returncode == 0, second.stderr
    assert emulator.served("nar-submit") == 1
    assert emulator.requests("nar-result") == 1
    manifest = json.loads((tmp_path / "out" / "chapter.manifest.json").read_text())
    assert (
        abs(decoded_duration(manifest["audio"], "mp3", manifest["sample_rate"]) - manifest["duration_seconds"]) <= 0.05
    )


def test_a_submission_that_may_have_been_billed_is_repeated_once_at_most(prefect_api_url, emulator, tmp_path):
    """A submission that times out after the provider received it may already be a job (and billed)."""
    emulator.add_fault("nar-submit", kind="hang", seconds=3, times=None)
    provider = long_provider(emulator, "long-ambiguous", timeout_seconds=1.0, max_attempts=5)
    with pytest.raises(Exception, match="may have been accepted and billed"):
        run(text=CHAPTER.split("\n\n")[0], provider=provider, output=str(tmp_path))
    assert emulator.paid("nar-submit") == 2  # the first, and one repeat: never max_attempts of them


def test_a_job_the_provider_forgot_is_dropped_and_submitted_once_more(prefect_api_url, emulator, tmp_path):
    emulator.add_fault("nar-status", kind="status", status=404, times=1)
    provider = long_provider(emulator, "long-forgotten")
    manifest = run(text=CHAPTER.split("\n\n")[0], provider=provider, output=str(tmp_path))
    assert emulator.paid("nar-submit") == 2 and manifest.chunks[0].attempts == 2
    assert not list((tmp_path / ".chunks" / "jobs").glob("*.json"))  # the record went with the audio stored
