"""The access key never leaves its block: read back everything Prefect and storage kept, and look."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from prefect.client.orchestration import get_client

from flows.narrate import narrate
from flows.parameters import NarrationRequest
from tasks.errors import ProviderError
from tests.provider_blocks import save_block

SECRET = "sk-live-5f1e2d3cSECRETc0ffee"
PROVIDERS = ["openai-speech", "maas-ospeech", "maas-aspeech", "maas-nar", "maas-ele"]


async def _everything_prefect_kept(api_url: str) -> str:
    async with get_client() as client:
        flow_runs = await client.read_flow_runs()
        task_runs = await client.read_task_runs()
        logs = await client.read_logs()
        artifacts = await client.read_artifacts()
    async with httpx.AsyncClient(base_url=api_url) as http:
        latest = (await http.post("/events/filter", json={"limit": 50})).json()
        ours = (
            await http.post("/events/filter", json={"limit": 50, "filter": {"event": {"prefix": ["narration."]}}})
        ).json()
        events = [latest, ours]
    kept = [
        [run.model_dump(mode="json") for run in flow_runs],
        [run.model_dump(mode="json") for run in task_runs],
        [log.model_dump(mode="json") for log in logs],
        [artifact.model_dump(mode="json") for artifact in artifacts],
        events,
    ]
    return json.dumps(kept)


def _everything_stored(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in folder.rglob("*") if path.is_file())


@pytest.mark.parametrize("slug", PROVIDERS)
def test_the_key_appears_nowhere_after_a_good_and_a_failed_run(prefect_api_url, emulator, tmp_path, slug):
    emulator.configure(access_key=SECRET)
    try:
        provider = save_block(slug, emulator.url, f"secret-{slug}", access_key=SECRET, max_attempts=1)
        asyncio.run(narrate(NarrationRequest(text="A good run. 你好。", provider=provider, output=str(tmp_path))))
        route = {"maas-nar": "nar-short", "maas-ele": "ele", "openai-speech": "openai"}.get(slug, "maas-speech")
        emulator.add_fault(route, kind="status", status=400, message="refused for the test")
        with pytest.raises(ProviderError, match="refused for the test"):
            asyncio.run(narrate(NarrationRequest(text="A failing run.", provider=provider, output=str(tmp_path))))
    finally:
        emulator.configure(access_key="emulator-key")
    kept = asyncio.run(_everything_prefect_kept(prefect_api_url))
    assert "refused for the test" in kept and "narration.audio.created" in kept  # we read the real records
    assert SECRET not in kept
    assert SECRET.encode() not in _everything_stored(tmp_path)
