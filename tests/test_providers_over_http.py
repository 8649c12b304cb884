"""Every provider end to end through the narrate flow, over real HTTP to the emulator, audio decoded."""

from __future__ import annotations

import asyncio

import pytest

from flows.narrate import narrate
from flows.parameters import NarrationRequest
from tests.audio_probe import decoded_duration
from tests.provider_blocks import HTTP_PROVIDERS, ROUTE_OF, save_block

TEXT = (
    "Providers are paid per character, so every request counts. This one is spoken by the emulator.\n\n"
    "A second paragraph follows, with Chinese too: 你好，世界。"
)
PROVIDERS = HTTP_PROVIDERS


def run(**fields):
    return asyncio.run(narrate(NarrationRequest(**fields)))


@pytest.mark.parametrize("fmt", ["mp3", "flac"])
@pytest.mark.parametrize("slug", PROVIDERS)
def test_provider_end_to_end(prefect_api_url, emulator, tmp_path, slug, fmt):
    provider = save_block(slug, emulator.url, f"e2e-{slug}", chunk_characters=80)
    manifest = run(text=TEXT, provider=provider, format=fmt, output=str(tmp_path), name="doc")
    assert manifest.provider == provider
    assert len(manifest.chunks) >= 3
    assert emulator.served(ROUTE_OF[slug]) == len(manifest.chunks)
    measured = decoded_duration(manifest.audio, fmt, manifest.sample_rate)
    assert abs(measured - manifest.duration_seconds) <= 0.05
    assert manifest.duration_seconds > 4
    if slug == "maas-ele":
        assert manifest.billed_characters == sum(c.characters for c in manifest.chunks)
        assert all(c.request_id for c in manifest.chunks)
        notes = emulator.stats("ele")["notes"]
        assert notes["previous_text"] == notes["next_text"] == len(manifest.chunks) - 1


def test_a_rerun_pays_for_nothing(prefect_api_url, emulator, tmp_path):
    provider = save_block("openai-speech", emulator.url, "rerun", chunk_characters=80)
    first = run(text=TEXT, provider=provider, output=str(tmp_path), name="doc")
    paid = emulator.served("openai")
    second = run(text=TEXT, provider=provider, output=str(tmp_path), name="doc")
    assert paid == len(first.chunks) and emulator.served("openai") == paid
    assert second.chunks_cached == len(second.chunks)


def test_ele_sends_continuity_context_and_can_stitch(prefect_api_url, emulator, tmp_path):
    provider = save_block("maas-ele", emulator.url, "stitched", chunk_characters=60, stitch_request_ids=True)
    manifest = run(text=TEXT, provider=provider, output=str(tmp_path), name="stitched")
    assert emulator.served("ele") == len(manifest.chunks)
    assert len({c.request_id for c in manifest.chunks}) == len(manifest.chunks)
    assert emulator.stats("ele")["notes"]["previous_request_ids"] == len(manifest.chunks) - 1


def test_aspeech_speaks_hostile_text_instead_of_breaking_ssml(prefect_api_url, emulator, tmp_path):
    provider = save_block("maas-aspeech", emulator.url, "hostile")
    hostile = "Tom & Jerry say <b>\"hi\"</b> & 'bye' </voice></speak> 1 < 2 > 0."
    manifest = run(text=hostile, provider=provider, output=str(tmp_path), name="hostile")
    assert emulator.served("maas-speech") == 1 and emulator.stats("maas-speech")["rejected"] == 0
    assert manifest.duration_seconds > 2


def test_aspeech_checks_the_voice_against_the_list_before_paying(prefect_api_url, emulator, tmp_path):
    from tasks.errors import NarrationInputError

    provider = save_block("maas-aspeech", emulator.url, "voice-check")
    with pytest.raises(NarrationInputError, match="voice: 'en-US-NobodyNeural' is not in the provider's voice list"):
        run(text="Hello.", provider=provider, voice="en-US-NobodyNeural", output=str(tmp_path))
    assert emulator.requests("maas-speech") == 0


@pytest.mark.parametrize(
    ("slug", "fields", "request_fields", "message"),
    [
        ("openai-speech", {}, {"voice": "bob"}, "voice: 'bob' is not one of alloy"),
        ("openai-speech", {"model": "tts-9"}, {}, "model: 'tts-9' is not one of tts-1, tts-1-hd"),
        ("maas-ospeech", {}, {"voice": "bob"}, "voice: 'bob' is not one of alloy"),
        ("maas-ele", {"model_id": "eleven_v9"}, {}, "model: 'eleven_v9' is not one of"),
        ("maas-ele", {}, {"voice": "Nobody"}, "voice: 'Nobody' is neither a MaaS-Ele voice name"),
        ("maas-ele", {}, {"speed": 1.5}, "speed: maas-ele has no speed control"),
        ("maas-ele", {"output_format": "mp3_8000_8"}, {}, "output_format: 'mp3_8000_8' is not one of"),
        (
            "maas-aspeech",
            {"output_format": "wma-16khz"},
            {},
            "output_format: 'wma-16khz' is not a supported Azure output format",
        ),
        ("maas-nar", {}, {"speed": 3.0}, "speed: 3.0 is outside maas-nar's range 0.3 to 2"),
    ],
)
def test_contract_checks_come_before_any_paid_request(
    prefect_api_url, emulator, tmp_path, slug, fields, request_fields, message
):
    from tasks.errors import NarrationInputError

    provider = save_block(slug, emulator.url, f"checked-{slug}", **fields)
    with pytest.raises(NarrationInputError, match=message):
        run(text="Hello.", provider=provider, output=str(tmp_path), **request_fields)
    assert sum(route["served"] for route in emulator.stats().values()) == 0
