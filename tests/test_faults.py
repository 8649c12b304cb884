"""Faults survived or reported clearly, over real HTTP; the emulator's counters show what was paid."""

from __future__ import annotations

import asyncio

import pytest

from flows.narrate import narrate
from flows.parameters import NarrationRequest
from tasks.errors import ProviderError
from tests.provider_blocks import HTTP_PROVIDERS, ROUTE_OF, save_block

TEXT = "One sentence for the first chunk. Another sentence here.\n\nA second paragraph closes the document."


def run(**fields):
    return asyncio.run(narrate(NarrationRequest(**fields)))


@pytest.fixture
def clean_audio(prefect_api_url, emulator, tmp_path_factory):
    """The bytes a fault-free run writes, to compare every faulted run against."""
    out = tmp_path_factory.mktemp("clean")
    provider = save_block("openai-speech", emulator.url, "clean", chunk_characters=40)
    manifest = run(text=TEXT, provider=provider, output=str(out), name="doc")
    emulator.reset()
    return (out / "doc.mp3").read_bytes(), len(manifest.chunks)


FAULTS = [
    pytest.param({"kind": "status", "status": 429, "retry_after": "1"}, id="429-retry-after-seconds"),
    pytest.param({"kind": "status", "status": 429, "retry_after": "date:1"}, id="429-retry-after-date"),
    pytest.param({"kind": "status", "status": 429}, id="429-no-retry-after"),
    pytest.param({"kind": "status", "status": 500}, id="500"),
    pytest.param({"kind": "status", "status": 502}, id="502"),
    pytest.param({"kind": "status", "status": 503, "times": 3}, id="503-three-times"),
    pytest.param({"kind": "status", "status": 504}, id="504"),
    pytest.param({"kind": "reset"}, id="connection-reset"),
    pytest.param({"kind": "hang", "seconds": 4}, id="hang-past-timeout"),
    pytest.param({"kind": "truncate"}, id="truncated-audio"),
    pytest.param({"kind": "garbage"}, id="undecodable-audio"),
    pytest.param({"kind": "silence"}, id="silent-audio"),
]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_is_survived_with_the_same_audio_and_nothing_paid_twice(clean_audio, emulator, tmp_path, fault):
    clean, chunks = clean_audio
    emulator.add_fault("openai", **fault)
    provider = save_block("openai-speech", emulator.url, "faulty", chunk_characters=40, timeout_seconds=1.5)
    run(text=TEXT, provider=provider, output=str(tmp_path), name="doc")
    assert (tmp_path / "doc.mp3").read_bytes() == clean
    stats = emulator.stats("openai")
    injected = fault.get("times", 1)
    assert stats["faults"] == injected
    paid_for_bad_audio = injected if fault["kind"] == "silence" else 0
    assert stats["served"] == chunks + paid_for_bad_audio


EVERY_FAULT = [fault.values[0] for fault in FAULTS]


@pytest.mark.parametrize("slug", [slug for slug in HTTP_PROVIDERS if slug != "openai-speech"])
def test_every_fault_in_turn_on_every_other_provider(prefect_api_url, emulator, tmp_path, slug):
    """The whole fault list, queued on the provider's route and met one after another by its requests.

    OpenAI meets each fault on its own above; here every other provider meets all of them in one
    run, so the matrix stays affordable in CI. The audio must equal a clean run's, byte for byte.
    """
    route = ROUTE_OF[slug]
    provider = save_block(slug, emulator.url, "matrix", chunk_characters=40, timeout_seconds=1.5, max_attempts=16)
    manifest = run(text=TEXT, provider=provider, output=str(tmp_path / "clean"), name="doc")
    chunks = len(manifest.chunks)
    assert emulator.served(route) == chunks >= 3
    emulator.reset()
    for fault in EVERY_FAULT:
        emulator.add_fault(route, **fault)
    run(text=TEXT, provider=provider, output=str(tmp_path / "faulty"), name="doc")
    assert (tmp_path / "faulty" / "doc.mp3").read_bytes() == (tmp_path / "clean" / "doc.mp3").read_bytes()
    stats = emulator.stats(route)
    injected = sum(fault.get("times", 1) for fault in EVERY_FAULT)
    assert stats["faults"] == injected, stats
    assert stats["served"] == chunks + 1, stats  # the silent answer is paid once more; nothing else twice


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_a_non_retryable_error_fails_after_one_request_with_a_clear_message(
    prefect_api_url, emulator, tmp_path, status
):
    emulator.add_fault("openai", kind="status", status=status, message=f"provider says {status}")
    provider = save_block("openai-speech", emulator.url, "refusing")
    with pytest.raises(ProviderError) as error:
        run(text="A single chunk.", provider=provider, output=str(tmp_path), name="doc")
    assert str(error.value) == f"{provider} HTTP {status} on chunk 0: provider says {status}"
    assert emulator.requests("openai") == 1
    assert not (tmp_path / "doc.mp3").exists()


def test_a_wrong_key_is_reported_without_the_key(prefect_api_url, emulator, tmp_path):
    provider = save_block("maas-ele", emulator.url, "wrong-key", access_key="sk-wrong-0123456789")
    with pytest.raises(ProviderError) as error:
        run(text="A single chunk.", provider=provider, output=str(tmp_path))
    assert "HTTP 401" in str(error.value) and "Invalid or missing access key" in str(error.value)
    assert "sk-wrong" not in str(error.value)
    assert emulator.requests("ele") == 1


def test_a_failed_run_keeps_the_earlier_output_and_the_paid_chunks(prefect_api_url, emulator, tmp_path):
    provider = save_block("openai-speech", emulator.url, "keeps", chunk_characters=40, max_attempts=2)
    run(text="An earlier version.", provider=provider, output=str(tmp_path), name="doc")
    earlier = (tmp_path / "doc.mp3").read_bytes(), (tmp_path / "doc.manifest.json").read_bytes()
    emulator.reset()
    emulator.add_fault("openai", kind="status", status=503, times=None)
    with pytest.raises(ProviderError, match="HTTP 503"):
        run(text=TEXT, provider=provider, output=str(tmp_path), name="doc")
    assert ((tmp_path / "doc.mp3").read_bytes(), (tmp_path / "doc.manifest.json").read_bytes()) == earlier
    emulator.reset()
    manifest = run(text=TEXT, provider=provider, output=str(tmp_path), name="doc")
    assert emulator.served("openai") == len(manifest.chunks)


def test_the_provider_cap_bounds_requests_in_flight(prefect_api_url, emulator, tmp_path):
    emulator.set_route("ele", latency_seconds=0.3)
    provider = save_block("maas-ele", emulator.url, "capped", chunk_characters=30, max_concurrency=3)
    text = " ".join(f"Sentence number {i} is here." for i in range(24))
    manifest = run(text=text, provider=provider, output=str(tmp_path))
    stats = emulator.stats("ele")
    assert stats["served"] == len(manifest.chunks) >= 12
    assert stats["max_in_flight"] == 3


@pytest.mark.parametrize("slug", HTTP_PROVIDERS)
def test_what_the_provider_bills_is_the_text_plus_what_ambiguous_faults_explain(
    prefect_api_url, emulator, tmp_path, slug
):
    """The emulator bills every request it received whole; the narration may pay again only for the chunks an
    ambiguous fault hit (the provider got them, the client never had the answer)."""
    route = ROUTE_OF[slug]
    spoken = sum(len(part) for part in TEXT.split())  # what any provider can bill at least: the words
    provider = save_block(slug, emulator.url, f"billed-{slug}", chunk_characters=40, timeout_seconds=1.5)
    clean = run(text=TEXT, provider=provider, output=str(tmp_path / "clean"), name="doc")
    assert spoken <= emulator.billed_characters(route) <= len(TEXT)
    emulator.reset()
    emulator.add_fault(route, kind="reset-after-receipt")
    emulator.add_fault(route, kind="hang", seconds=3)
    run(
        text=TEXT,
        provider=save_block(slug, emulator.url, f"billed2-{slug}", chunk_characters=40, timeout_seconds=1.5),
        output=str(tmp_path / "faulted"),
        name="doc",
    )
    longest = max(chunk.characters for chunk in clean.chunks)
    assert emulator.billed_characters(route) <= len(TEXT) + 2 * longest  # two ambiguous faults, two chunks again
    assert emulator.paid(route) <= len(clean.chunks) + 2
