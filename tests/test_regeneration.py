"""The chunk store as the resume and regeneration mechanism: paid chunks are never paid for again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flows.narrate import narrate
from flows.parameters import NarrationRequest
from tests.crash import kill_when, narrate_command, run_to_the_end
from tests.provider_blocks import save_block

ROOT = Path(__file__).resolve().parents[1]
PARAGRAPHS = [f"Paragraph {i} has a sentence of its own. It has a second one too." for i in range(8)]


def run(**fields):
    return asyncio.run(narrate(NarrationRequest(**fields)))


@pytest.mark.parametrize(("slug", "expected_paid"), [("openai-speech", 1), ("maas-ele", 3)])
def test_an_edited_paragraph_pays_for_its_chunk_and_context_neighbours_only(
    prefect_api_url, emulator, tmp_path, slug, expected_paid
):
    provider = save_block(slug, emulator.url, f"regen-{slug}", chunk_characters=200)
    route = "openai" if slug == "openai-speech" else "ele"
    first = run(text="\n\n".join(PARAGRAPHS), provider=provider, output=str(tmp_path), name="doc")
    assert emulator.served(route) == len(first.chunks) == 8
    emulator.reset()
    edited = PARAGRAPHS.copy()
    edited[4] = "Paragraph four was rewritten entirely."
    second = run(text="\n\n".join(edited), provider=provider, output=str(tmp_path), name="doc")
    assert emulator.served(route) == expected_paid == second.chunks_synthesized
    assert [c.index for c in second.chunks if not c.cached] == list(
        range(5 - (expected_paid + 1) // 2, 4 + (expected_paid + 1) // 2)
    )
    for old, new in zip(first.chunks, second.chunks, strict=True):
        if new.cached:
            assert (old.key, old.duration_seconds) == (new.key, new.duration_seconds)


@pytest.mark.slow
def test_a_run_killed_midway_pays_only_for_what_it_had_not_stored(prefect_env, emulator, tmp_path):
    emulator.set_route("openai", latency_seconds=0.4)
    provider = save_block("openai-speech", emulator.url, "killed", chunk_characters=60, max_concurrency=2)
    source = tmp_path / "long.txt"
    source.write_text(
        "\n\n".join(f"Chapter part {i} is unique. It is not like the others." for i in range(24)), encoding="utf-8"
    )
    command = narrate_command(source, provider, tmp_path / "out")
    store = tmp_path / "out" / ".chunks"
    assert kill_when(command, prefect_env, lambda: len(list(store.rglob("*.json"))) >= 6)
    stored = len(list(store.rglob("*.json")))
    paid_before = emulator.served("openai")
    assert 6 <= stored < 24 and paid_before >= stored
    second = run_to_the_end(command, prefect_env)
    assert second.returncode == 0, second.stderr
    assert emulator.served("openai") - paid_before == 24 - stored
    assert "from the chunk store" in second.stdout
