"""Bad answers from providers, runs that race, and runs killed again and again: nothing lost, nothing followed."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

from flows.narrate import narrate
from flows.parameters import NarrationRequest
from tasks.errors import ProviderError
from tests.audio_probe import decoded_duration
from tests.crash import kill_when, narrate_command, run_to_the_end
from tests.provider_blocks import save_block
from tests.store_probe import chunk_records

ROOT = Path(__file__).resolve().parents[1]
LONG_TEXT = "A long job that the provider answers with a strange URL. It should never be followed anywhere."
LONG = {"chunk_characters": 2000, "short_max_characters": 20, "poll_interval_seconds": 0.2}


def run(**fields):
    return asyncio.run(narrate(NarrationRequest(**fields)))


def test_a_status_url_to_another_host_is_never_followed(prefect_api_url, emulator, tmp_path):
    emulator.add_fault("nar-submit", kind="foreign-status-url")
    provider = save_block("maas-nar", emulator.url, "foreign-status", **LONG)
    with pytest.raises(ProviderError, match="refusing to follow a status URL to '169.254.169.254'"):
        run(text=LONG_TEXT, provider=provider, output=str(tmp_path))
    assert emulator.requests("nar-status") == 0


def test_a_file_result_url_is_never_followed(prefect_api_url, emulator, tmp_path):
    emulator.add_fault("nar-status", kind="foreign-result-url", times=None)
    provider = save_block("maas-nar", emulator.url, "foreign-result", **LONG)
    with pytest.raises(ProviderError, match="refusing to follow a result URL with scheme 'file'"):
        run(text=LONG_TEXT, provider=provider, output=str(tmp_path))
    assert emulator.requests("nar-result") == 0


def test_a_result_over_the_cap_is_refused(prefect_api_url, emulator, tmp_path):
    provider = save_block("maas-nar", emulator.url, "capped-result", max_result_bytes=10_000, **LONG)
    with pytest.raises(ProviderError, match="over the cap of 10,000"):
        run(text=LONG_TEXT, provider=provider, output=str(tmp_path))


def test_two_runs_of_one_document_at_once_leave_one_consistent_output(prefect_api_url, emulator, tmp_path):
    provider = save_block("openai-speech", emulator.url, "racing", chunk_characters=50)
    text = "Two runs race to narrate this document. Each writes its output whole.\n\nThe later write wins."

    async def both():
        request = NarrationRequest(text=text, provider=provider, output=str(tmp_path), name="raced")
        return await asyncio.gather(narrate(request), narrate(request))

    first, second = asyncio.run(both())
    manifest = json.loads((tmp_path / "raced.manifest.json").read_text())
    assert (
        abs(decoded_duration(manifest["audio"], "mp3", manifest["sample_rate"]) - manifest["duration_seconds"]) <= 0.05
    )
    assert len(manifest["chunks"]) == len(first.chunks) == len(second.chunks)
    assert not [p for p in tmp_path.rglob("*.part")]
    store = tmp_path / ".chunks"
    records = chunk_records(store)
    assert len(records) == len({c.key for c in first.chunks}) and all(json.loads(r.read_text())["key"] for r in records)
    segments = [json.loads(r.read_text()) for r in (store / "segments").rglob("*.json")]
    assert segments and all((store / "segments" / s["path"]).stat().st_size > 0 for s in segments)  # whole


@pytest.mark.slow
def test_killed_again_and_again_each_rerun_resumes_and_nothing_is_lost(prefect_env, emulator, tmp_path):
    emulator.set_route("openai", latency_seconds=0.3)
    cap = 2
    provider = save_block("openai-speech", emulator.url, "killed-often", chunk_characters=60, max_concurrency=cap)
    chunks = 30
    source = tmp_path / "book.txt"
    source.write_text(
        "\n\n".join(f"Section {i} of the book is unique. Section {i} is read aloud." for i in range(chunks)),
        encoding="utf-8",
    )
    command = narrate_command(source, provider, tmp_path / "out")
    store = tmp_path / "out" / ".chunks"
    rng = random.Random(7)
    kills = 0
    for _ in range(3):
        target = len(chunk_records(store)) + rng.randint(2, 6)
        kills += kill_when(command, prefect_env, lambda target=target: len(chunk_records(store)) >= target)
    final = run_to_the_end(command, prefect_env)
    assert final.returncode == 0, final.stderr
    paid = emulator.paid("openai")  # what the provider billed, answers to killed clients included
    manifest = json.loads((tmp_path / "out" / "book.manifest.json").read_text())
    keys = len({c["key"] for c in manifest["chunks"]})
    assert kills == 3 and keys >= chunks
    # paid twice at most: what each kill caught in flight or answered but not yet stored (the gate holds
    # at most twice the cap of answers in hand, in flight included)
    assert keys <= paid <= keys + kills * 2 * cap
    assert (
        abs(decoded_duration(manifest["audio"], "mp3", manifest["sample_rate"]) - manifest["duration_seconds"]) <= 0.05
    )


def test_text_too_big_for_a_flow_parameter_is_refused_before_any_run():
    """Prefect refuses parameters of 512 KiB or more with a 422; the model says so first, with the way out."""
    from pydantic import ValidationError

    from flows.parameters import MAX_TEXT_PARAMETER_BYTES, NarrationRequest

    with pytest.raises(ValidationError, match=r"text: 600,000 bytes, over the 500,000 .* give it as the source"):
        NarrationRequest(text="x" * 600_000)
    assert NarrationRequest(text="x" * MAX_TEXT_PARAMETER_BYTES).text
