"""Blocks register with a real Prefect server, and keep keys secret in what they dump."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from blocks import LocalSpeech, MaasASpeech, MaasEle, MaasNar, MaasOSpeech, OpenAISpeech

ROOT = Path(__file__).resolve().parents[1]
SLUGS = ["local-speech", "openai-speech", "maas-ospeech", "maas-aspeech", "maas-nar", "maas-ele"]


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
        env=prefect_env | {"COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    for slug in SLUGS:
        assert slug in listed


def test_access_keys_are_masked_in_dumps_and_reprs():
    for kind in (OpenAISpeech, MaasOSpeech, MaasASpeech, MaasNar, MaasEle):
        block = kind(endpoint="http://127.0.0.1:1", access_key="sk-very-secret")
        assert "sk-very-secret" not in repr(block) and "sk-very-secret" not in block.model_dump_json()
        client = block.get_client()
        assert client.headers["Authorization"] == "Bearer sk-very-secret"
    assert LocalSpeech().chunk_limit <= LocalSpeech().max_characters
