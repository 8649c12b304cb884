"""What a run may pay for: a budget, a dry run, the same failure twice, and settings that change a narration."""

from __future__ import annotations

import asyncio

import pytest

from flows.narrate import narrate
from flows.parameters import NarrationRequest
from tasks.errors import NarrationInputError, ProviderError
from tests.provider_blocks import save_block

TEXT = "\n\n".join(f"Paragraph {i} has its own sentence about item number {i}." for i in range(6))


def run(**fields):
    return asyncio.run(narrate(NarrationRequest(**fields)))


def test_a_dry_run_shows_the_bill_and_pays_nothing(prefect_api_url, emulator, tmp_path):
    provider = save_block("openai-speech", emulator.url, "dry", chunk_characters=80, price_per_million_characters=15.0)
    plan = run(text=TEXT, provider=provider, output=str(tmp_path), name="doc", dry_run=True)
    assert emulator.requests("openai") == 0 and not (tmp_path / "doc.mp3").exists()
    assert plan.chunks_to_synthesize == plan.chunks == 6 and plan.chunks_stored == 0
    assert plan.characters_to_bill == sum(len(paragraph) for paragraph in TEXT.split("\n\n"))
    assert plan.estimated_cost == round(plan.characters_to_bill * 15.0 / 1_000_000, 4)
    run(text=TEXT, provider=provider, output=str(tmp_path), name="doc")
    edited = TEXT.replace("item number 3.", "item number three, edited.")
    again = run(text=edited, provider=provider, output=str(tmp_path), name="doc", dry_run=True)
    assert (again.chunks_stored, again.chunks_to_synthesize) == (5, 1)


async def limits_named_for(block_name: str) -> list[str]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        limits = await client.read_global_concurrency_limits(limit=200)
    return sorted(limit.name for limit in limits if block_name in limit.name)


def test_a_dry_run_with_global_limits_makes_none_and_the_run_does(prefect_api_url, emulator, tmp_path):
    provider = save_block("openai-speech", emulator.url, "dry-capped", chunk_characters=80, global_limits=True)
    run(text=TEXT, provider=provider, output=str(tmp_path), name="doc", dry_run=True)
    assert asyncio.run(limits_named_for("dry-capped")) == [] and emulator.requests("openai") == 0
    run(text=TEXT, provider=provider, output=str(tmp_path), name="doc")
    in_flight = "narration-provider-openai-speech.dry-capped"
    assert asyncio.run(limits_named_for("dry-capped")) == [in_flight, f"{in_flight}-members"]


def test_a_plan_over_the_budget_is_refused_before_paying(prefect_api_url, emulator, tmp_path):
    provider = save_block("openai-speech", emulator.url, "budget", chunk_characters=80)
    with pytest.raises(NarrationInputError, match="max_billed_characters: the plan bills .* over the budget of 100"):
        run(text=TEXT, provider=provider, output=str(tmp_path), max_billed_characters=100)
    assert emulator.requests("openai") == 0


def test_retries_never_take_a_run_over_its_budget(prefect_api_url, emulator, tmp_path):
    provider = save_block("openai-speech", emulator.url, "budget-retries", chunk_characters=80, max_attempts=5)
    emulator.add_fault("openai", kind="status", status=500, times=None)
    budget = len(TEXT) + 60  # room for the text, and about one chunk more: not for five attempts of each
    with pytest.raises(ProviderError, match="budget"):
        run(text=TEXT, provider=provider, output=str(tmp_path), max_billed_characters=budget)
    # a failed attempt counts as billed (a provider may bill it): requests stop before the budget is crossed
    shortest = min(len(paragraph) for paragraph in TEXT.split("\n\n"))
    assert emulator.requests("openai") <= budget // shortest


def test_an_answer_that_fails_its_check_the_same_way_twice_stops_that_chunk(prefect_api_url, emulator, tmp_path):
    provider = save_block("openai-speech", emulator.url, "silent-twice", chunk_characters=80, max_attempts=5)
    emulator.add_fault("openai", kind="silence", times=None)
    with pytest.raises(ProviderError, match="failed its check the same way twice"):
        run(text="A single chunk of text, always answered with silence.", provider=provider, output=str(tmp_path))
    assert emulator.paid("openai") == 2  # not max_attempts x (1 + task retries)


def test_the_manifest_records_attempts_and_characters_billed(prefect_api_url, emulator, tmp_path):
    provider = save_block("openai-speech", emulator.url, "ledger", chunk_characters=80)
    emulator.add_fault("openai", kind="status", status=503)
    manifest = run(text=TEXT, provider=provider, output=str(tmp_path), name="doc")
    assert sorted(chunk.attempts for chunk in manifest.chunks) == [1, 1, 1, 1, 1, 2]
    assert all(chunk.billed_characters_this_run == chunk.characters for chunk in manifest.chunks)
    assert manifest.billed_characters == sum(chunk.characters for chunk in manifest.chunks)
