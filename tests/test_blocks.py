"""Blocks: Prefect's standard block checks, registration with a real server, secrets kept out of dumps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prefect.testing.standard_test_suites import BlockStandardTestSuite

import blocks
from blocks import LocalSpeech, NarrationStorage
from blocks.speech_provider import HttpSpeechProvider
from tasks.synthesis.providers import ENGINES

ROOT = Path(__file__).resolve().parents[1]
ALL_BLOCKS = [getattr(blocks, name) for name in blocks.__all__]
HTTP_BLOCKS = [block for block in ALL_BLOCKS if issubclass(block, HttpSpeechProvider)]


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda block: block.__name__)
class TestEveryBlock(BlockStandardTestSuite):
    """prefect-aws runs the same suite over its blocks: description, documentation URL, field docs, code example."""

    @pytest.fixture
    def block(self, block):
        return block

    @pytest.mark.skip(reason="fetches the logo over the network; these blocks have no logo and no network is reachable")
    def test_has_a_valid_image(self, block) -> None:
        pass


def test_every_provider_block_has_an_engine_and_is_exported():
    exported = {block.get_block_type_slug() for block in ALL_BLOCKS if block is not NarrationStorage}
    assert exported == set(ENGINES)


@pytest.mark.slow
def test_prefect_block_register_finds_every_block(prefect_env):
    prefect = Path(sys.executable).with_name("prefect")
    result = subprocess.run(
        [str(prefect), "block", "register", "-m", "blocks"],
        cwd=ROOT,
        env=prefect_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    listed = subprocess.run(
        [str(prefect), "block", "type", "ls"],
        cwd=ROOT,
        env=prefect_env,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    for block in ALL_BLOCKS:
        assert block.get_block_type_slug() in listed


def test_registering_blocks_imports_no_audio_stack():
    """`prefect block register -m blocks` must work where PyAV and espeak-ng would be costly or missing."""
    code = "import sys, blocks; print(sorted(m for m in ('av', 'espeakng_loader', 'tasks') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


@pytest.mark.parametrize("block", HTTP_BLOCKS, ids=lambda block: block.__name__)
def test_access_keys_are_masked_in_dumps_and_reprs_and_sent_as_bearer(block):
    instance = block(endpoint="http://127.0.0.1:1", access_key="sk-very-secret")
    assert "sk-very-secret" not in repr(instance) and "sk-very-secret" not in instance.model_dump_json()
    assert instance.get_client().headers["Authorization"] == "Bearer sk-very-secret"


@pytest.mark.parametrize(
    ("chunk_characters", "max_characters", "expected"),
    [(400, 2000, 400), (2000, 2000, 2000), (5000, 2000, 2000), (1, 2000, 1)],
)
def test_chunk_limit_is_the_preferred_size_never_above_the_request_limit(chunk_characters, max_characters, expected):
    block = LocalSpeech(chunk_characters=chunk_characters, max_characters=max_characters)
    assert block.chunk_limit == expected
