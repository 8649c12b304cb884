"""Provider blocks pointed at the emulator, found in the engine registry, saved through the real Prefect API."""

from __future__ import annotations

from blocks.speech_provider import HttpSpeechProvider
from tasks.synthesis.providers import ENGINES
from tts_emulator.contracts import CONTRACT_ROUTES

ACCESS_KEY = "emulator-key"
FAST_RETRIES = {"max_retry_wait_seconds": 0.5, "timeout_seconds": 10.0}
#: every HTTP provider the flows know, by block type slug
HTTP_PROVIDERS = [slug for slug, engine in ENGINES.items() if issubclass(engine.block_type, HttpSpeechProvider)]
#: the emulator route that counts each provider's paid requests
ROUTE_OF = {slug: CONTRACT_ROUTES[slug] for slug in HTTP_PROVIDERS}


def make_block(slug: str, endpoint: str, **fields) -> HttpSpeechProvider:
    return ENGINES[slug].block_type(**({"endpoint": endpoint, "access_key": ACCESS_KEY} | FAST_RETRIES | fields))


def save_block(slug: str, endpoint: str, name: str, **fields) -> str:
    """Save a block and return the reference the flow takes: '<slug>/<name>'."""
    block = make_block(slug, endpoint, **fields)
    block.save(name, overwrite=True)
    return f"{slug}/{name}"
