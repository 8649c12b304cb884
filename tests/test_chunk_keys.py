"""Stored chunks stay paid for: the keys of a fixed document, for every provider, never change by accident.

The expected keys were computed before the code moved into its rooms; a change here means every
user's chunk store would miss and pay again. Change them only with a key version change that
reads old records (see tasks/store/chunk_keys.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blocks import LocalSpeech, MaasASpeech
from tasks.synthesis.planning import plan_for
from tasks.synthesis.providers import ENGINES, engine_for
from tasks.text.documents import document_from_text

PINNED = json.loads((Path(__file__).with_name("chunk_keys_pinned.json")).read_text())
DOCUMENT = (
    "The first paragraph has two sentences. Here is the second one!\n\n"
    "A second paragraph, with a clause; and another clause: then the end.\n\n"
    "你好，世界。今天天气很好。"
)
ENDPOINT = {"endpoint": "https://tts.example.com/", "access_key": "k"}


def block_for(slug: str):
    if slug == LocalSpeech.get_block_type_slug():
        return LocalSpeech()
    fields = {"voice": "en-US-AvaMultilingualNeural"} if ENGINES[slug].block_type is MaasASpeech else {}
    return ENGINES[slug].block_type(**ENDPOINT, **fields)


@pytest.mark.parametrize("slug", sorted(ENGINES))
def test_chunk_keys_of_a_fixed_document_are_unchanged(slug):
    assert slug in PINNED, f"no pinned keys for {slug}: add them when adding a provider"
    keys = [chunk.key for chunk in plan_for(document_from_text(DOCUMENT), engine_for(block_for(slug)))]
    assert keys == PINNED[slug]


def test_subtitle_file_sent_whole_keeps_its_key():
    srt = "1\n00:00:01,000 --> 00:00:02,000\nHello there.\n"
    document = document_from_text(srt, "srt")
    keys = [c.key for c in plan_for(document, engine_for(block_for("maas-nar")), subtitles=("srt", srt))]
    assert keys == PINNED["maas-nar-srt"]
