"""The chunk store as the resume and regeneration mechanism: paid chunks are never paid for again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flows.narrate import narrate
from flows.parameters import NarrationRequest
from tests.crash import kill_when, narrate_command, run_to_the_end
from tests.provider_blocks import save_block
from tests.store_probe import chunk_records

ROOT = Path(__file__).resolve().parents[1]
PARAGRAPHS = [f"Paragraph {i} has a sentence of its own. It has a second one too." for i in range(8)]


def run(**fields):
    return asyncio.run(narrate(NarrationRequest(**fields)))


@pytest.mark.parametrize("slug", ["openai-speech", "maas-ele"])
def test_an_edited_paragraph_pays_for_its_chunks_and_context_neighbours_only(prefect_api_url, emulator, tmp_path, slug):
    provider = save_block(slug, emulator.url, f"regen-{slug}", chunk_characters=200)
    route = "openai" if slug == "openai-speech" else "ele"
    first = run(text="\n\n".join(PARAGRAPHS), provider=provider, output=str(tmp_path), name="doc")
    assert emulator.served(route) == len({c.key for c in first.chunks}) >= 8  # a repeated sentence is paid once
    emulator.reset()
    edited = PARAGRAPHS.copy()
    edited[4] = "Paragraph four was rewritten entirely."
    second = run(text="\n\n".join(edited), provider=provider, output=str(tmp_path), name="doc")
    edited_chunks = [c.index for c in second.chunks if c.block == 4]
    # with continuity context, the chunks on either side hear the edit too (their previous/next text changed)
    expected = (
        edited_chunks if slug == "openai-speech" else [edited_chunks[0] - 1, *edited_chunks, edited_chunks[-1] + 1]
    )
    assert [c.index for c in second.chunks if not c.cached] == expected
    paid = {c.key for c in second.chunks if not c.cached}
    assert emulator.served(route) == len(paid) == second.chunks_synthesized
    unchanged = {c.key: c.duration_seconds for c in first.chunks}
    for new in second.chunks:
        if new.cached:
            assert unchanged[new.key] == new.duration_seconds


@pytest.mark.slow
def test_a_run_killed_midway_pays_only_for_what_it_had_not_stored(prefect_env, emulator, tmp_path):
    emulator.set_route("openai", latency_seconds=0.4)
    provider = save_block("openai-speech", emulator.url, "killed", chunk_characters=60, max_concurrency=2)
    source = tmp_path / "long.txt"
    source.write_text(
        "\n\n".join(f"Chapter part {i} is unique. Part {i} is not like the others." for i in range(24)),
        encoding="utf-8",
    )
    command = narrate_command(source, provider, tmp_path / "out")
    store = tmp_path / "out" / ".chunks"
    assert kill_when(command, prefect_env, lambda: len(chunk_records(store)) >= 6)
    stored = len(chunk_records(store))
    paid_before = emulator.served("openai")
    assert paid_before >= stored >= 6
    second = run_to_the_end(command, prefect_env)
    assert second.returncode == 0, second.stderr
    chunks = len(chunk_records(store))  # chunk records (segments keep theirs apart)
    assert stored < chunks and emulator.served("openai") - paid_before == chunks - stored
    assert "from the chunk store" in second.stdout
