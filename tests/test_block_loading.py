"""Saved blocks named in parameters load as their own class, and a name of the wrong kind is refused by field."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from blocks.narration_storage import NarrationStorage
from tasks.errors import NarrationInputError
from tasks.synthesis.block_loading import load_provider, load_storage
from tests.provider_blocks import save_block

# Loads both blocks in a new process and reports which installed Prefect collections it imported on the way.
LOAD_AND_REPORT = """
import asyncio, sys
from importlib.metadata import entry_points
from tasks.synthesis.block_loading import load_provider, load_storage
provider = asyncio.run(load_provider("maas-ele/loading"))
storage = asyncio.run(load_storage("narration-storage/loading"))
collections = [point.value for point in entry_points(group="prefect.collections")]
print(type(provider).__name__, provider.endpoint, type(storage).__name__, storage.base_url)
print(sorted(name for name in collections if name in sys.modules))
"""


@pytest.mark.slow
def test_saved_blocks_load_as_their_class_without_importing_every_prefect_collection(prefect_env, emulator, tmp_path):
    """Prefect's registry lookup would import every installed collection (prefect-redis brings redis along)."""
    save_block("maas-ele", emulator.url, "loading")
    NarrationStorage(base_url=str(tmp_path)).save("loading", overwrite=True)
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_AND_REPORT], env=prefect_env, capture_output=True, text=True, timeout=120
    )
    assert loaded.returncode == 0, loaded.stderr
    blocks, imported = loaded.stdout.splitlines()
    assert blocks == f"MaasEle {emulator.url} NarrationStorage {tmp_path}"
    assert imported == "[]"


def test_a_name_of_another_kind_is_refused_before_any_request():
    with pytest.raises(NarrationInputError, match=r"storage: 'maas-ele/loading' is not a narration-storage block"):
        asyncio.run(load_storage("maas-ele/loading"))
    with pytest.raises(NarrationInputError, match=r"provider: unknown provider type 'narration-storage'"):
        asyncio.run(load_provider("narration-storage/loading"))


@pytest.mark.slow
def test_a_block_never_saved_is_named_in_the_error(prefect_api_url):
    with pytest.raises(NarrationInputError, match=r"provider: no block 'maas-ele/never-saved' is saved"):
        asyncio.run(load_provider("maas-ele/never-saved"))
    with pytest.raises(NarrationInputError, match=r"storage: no block 'narration-storage/never-saved' is saved"):
        asyncio.run(load_storage("narration-storage/never-saved"))
