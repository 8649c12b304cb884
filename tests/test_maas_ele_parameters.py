"""Optional request parameters reach the provider exactly as its contract says, and cost no stored chunk.

MaaS-Ele's pronunciation dictionaries and seed, and the OpenAI relay's `instructions`: each goes into the
request body over real HTTP to the emulator (whose journal shows what it received), enters chunk keys only
when set, and bad values are refused before any request is made.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from blocks import MaasEle, OpenAISpeech
from blocks.maas_ele import MAX_SEED
from tasks.errors import NarrationInputError
from tasks.models import PlannedChunk
from tasks.synthesis.planning import plan_for
from tasks.synthesis.providers import engine_for
from tasks.synthesis.providers.maas_ele import derived_seed
from tasks.text.documents import document_from_text
from tests.provider_blocks import make_block
from tests.test_chunk_keys import DOCUMENT, ENDPOINT, PINNED

TEXT = "The first sentence is here. A second one follows it. And a third closes the paragraph."
LOCATORS = [
    {"pronunciation_dictionary_id": "dict-b", "version_id": "v2"},
    {"pronunciation_dictionary_id": "dict-a", "version_id": "v1"},
]


def ele(url: str, **fields: Any) -> MaasEle:
    return make_block("maas-ele", url, chunk_characters=40, **fields)


def synthesize_all(block, text: str = TEXT) -> list[PlannedChunk]:
    """Prepare, plan and synthesize every chunk, as the flow does (one request per chunk)."""

    async def run() -> list[PlannedChunk]:
        engine = engine_for(block)
        try:
            await engine.prepare()
            chunks = plan_for(document_from_text(text), engine)
            for chunk in chunks:
                await engine.synthesize(chunk)
            return chunks
        finally:
            await engine.aclose()

    return asyncio.run(run())


def bodies(emulator, route: str) -> list[dict[str, Any]]:
    received = emulator.recorded(route)
    assert all(request["status"] == 200 for request in received), received
    return [request["body"] for request in received]


def keys(block, text: str = TEXT) -> list[str]:
    return [chunk.key for chunk in plan_for(document_from_text(text), engine_for(block))]


@pytest.mark.parametrize("seed", [0, 12345, MAX_SEED])
def test_ele_sends_locators_in_order_and_the_block_seed(emulator, seed):
    chunks = synthesize_all(ele(emulator.url, pronunciation_dictionary_locators=LOCATORS, seed=seed))
    sent = bodies(emulator, "ele")
    assert len(chunks) >= 3 and len(sent) == len(chunks)
    assert [body["text"] for body in sent] == [chunk.text for chunk in chunks]
    assert all(body["pronunciation_dictionary_locators"] == LOCATORS for body in sent)
    assert all(body["seed"] == seed for body in sent)


def test_ele_without_a_seed_sends_one_derived_from_each_chunk_key_and_the_same_again(emulator):
    chunks = synthesize_all(ele(emulator.url))
    first = bodies(emulator, "ele")
    assert [body["seed"] for body in first] == [int(chunk.key[:8], 16) for chunk in chunks]
    assert len({body["seed"] for body in first}) == len(chunks)  # different chunks sample differently
    assert all("pronunciation_dictionary_locators" not in body for body in first)
    emulator.reset()
    synthesize_all(ele(emulator.url))
    assert [body["seed"] for body in bodies(emulator, "ele")] == [body["seed"] for body in first]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"pronunciation_dictionary_locators": LOCATORS * 2}, "pronunciation_dictionary_locators", "at most 3"),
        (
            {"pronunciation_dictionary_locators": [{"pronunciation_dictionary_id": "d"}]},
            "pronunciation_dictionary_locators",
            "entry 1 needs version_id",
        ),
        (
            {"pronunciation_dictionary_locators": [*LOCATORS, {"pronunciation_dictionary_id": " ", "version_id": "v"}]},
            "pronunciation_dictionary_locators",
            "entry 3 needs pronunciation_dictionary_id",
        ),
        ({"pronunciation_dictionary_locators": ["dict-a"]}, "pronunciation_dictionary_locators", "entry 1 is not"),
        ({"seed": -1}, "seed", "0 to 4294967295"),
        ({"seed": MAX_SEED + 1}, "seed", "0 to 4294967295"),
        ({"seed": True}, "seed", "0 to 4294967295"),
    ],
)
def test_ele_refuses_bad_parameters_before_any_request(emulator, fields, field, message):
    block = ele(emulator.url)
    for name, value in fields.items():  # assignment skips the block's validation, as code configuring a block may
        setattr(block, name, value)
    with pytest.raises(NarrationInputError, match=message) as refused:
        synthesize_all(block)
    assert refused.value.field == field
    assert emulator.requests("ele") == 0 and emulator.recorded("ele") == []


@pytest.mark.parametrize(
    "fields",
    [
        {"pronunciation_dictionary_locators": LOCATORS * 2},
        {"pronunciation_dictionary_locators": [{"pronunciation_dictionary_id": "d"}]},
        {"pronunciation_dictionary_locators": [{"pronunciation_dictionary_id": "d", "version_id": ""}]},
        {"seed": -1},
        {"seed": MAX_SEED + 1},
    ],
)
def test_ele_block_refuses_what_the_contract_refuses(fields):
    with pytest.raises(ValidationError):
        MaasEle(**ENDPOINT, **fields)


def test_ele_unset_parameters_keep_the_pinned_keys():
    block = MaasEle(**ENDPOINT, seed=None, pronunciation_dictionary_locators=[])
    assert keys(block, DOCUMENT) == PINNED["maas-ele"]


def test_ele_set_parameters_change_every_key():
    plain = keys(MaasEle(**ENDPOINT))
    variants = [
        keys(MaasEle(**ENDPOINT, seed=1)),
        keys(MaasEle(**ENDPOINT, seed=2)),
        keys(MaasEle(**ENDPOINT, pronunciation_dictionary_locators=LOCATORS)),
        keys(MaasEle(**ENDPOINT, pronunciation_dictionary_locators=LOCATORS[::-1])),  # order changes the sound
        keys(MaasEle(**ENDPOINT, pronunciation_dictionary_locators=[{**LOCATORS[0], "version_id": "v3"}])),
    ]
    every_key = [key for variant in [plain, *variants] for key in variant]
    assert len(set(every_key)) == len(every_key)


@given(st.text("0123456789abcdef", min_size=64, max_size=64))
def test_derived_seed_is_always_a_seed_the_contract_accepts(key):
    assert 0 <= derived_seed(key) <= MAX_SEED
    assert derived_seed(key) == derived_seed(key[:8] + "0" * 56)  # a function of the key's head only


def relay(url: str, **fields: Any) -> OpenAISpeech:
    return make_block("openai-speech", url, model="gpt-4o-mini-tts", accept_unlisted=True, **fields)


def test_openai_relay_sends_instructions_only_when_set(emulator):
    synthesize_all(relay(emulator.url, instructions="Speak slowly, like a librarian."), "One sentence.")
    synthesize_all(relay(emulator.url), "One sentence.")
    synthesize_all(relay(emulator.url, instructions="  "), "One sentence.")
    with_style, without, blank = bodies(emulator, "openai")
    assert with_style["instructions"] == "Speak slowly, like a librarian."
    assert "instructions" not in without and "instructions" not in blank
    assert {k: v for k, v in with_style.items() if k != "instructions"} == without


def test_openai_instructions_enter_keys_only_when_set():
    fields = {"model": "gpt-4o-mini-tts", "accept_unlisted": True}
    plain = keys(OpenAISpeech(**ENDPOINT, **fields))
    assert keys(OpenAISpeech(**ENDPOINT, instructions=None), DOCUMENT) == PINNED["openai-speech"]
    assert keys(OpenAISpeech(**ENDPOINT, **fields, instructions="")) == plain
    calm = keys(OpenAISpeech(**ENDPOINT, **fields, instructions="Calm."))
    brisk = keys(OpenAISpeech(**ENDPOINT, **fields, instructions="Brisk."))
    assert len(set(plain + calm + brisk)) == 3 * len(plain)


@pytest.mark.parametrize("model", ["tts-1", "tts-1-hd"])
def test_openai_instructions_on_a_model_without_them_are_refused_before_any_request(emulator, model):
    with pytest.raises(NarrationInputError, match=f"instructions: {model} takes no instructions"):
        synthesize_all(make_block("openai-speech", emulator.url, model=model, instructions="Calm."), "One sentence.")
    assert emulator.requests("openai") == 0
