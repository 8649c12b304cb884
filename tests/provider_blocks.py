"""Provider blocks pointed at the emulator, saved through the real Prefect API."""

from __future__ import annotations

from blocks import MaasASpeech, MaasEle, MaasNar, MaasOSpeech, OpenAISpeech

ACCESS_KEY = "emulator-key"
ROUTE_OF = {
    "openai-speech": "openai",
    "maas-ospeech": "maas-speech",
    "maas-aspeech": "maas-speech",
    "maas-nar": "nar-short",
    "maas-ele": "ele",
}
FAST_RETRIES = {"max_retry_wait_seconds": 0.5, "timeout_seconds": 10.0}


def make_block(slug: str, endpoint: str, **fields):
    kinds = {
        "openai-speech": OpenAISpeech,
        "maas-ospeech": MaasOSpeech,
        "maas-aspeech": MaasASpeech,
        "maas-nar": MaasNar,
        "maas-ele": MaasEle,
    }
    return kinds[slug](**({"endpoint": endpoint, "access_key": ACCESS_KEY} | FAST_RETRIES | fields))


def save_block(slug: str, endpoint: str, name: str, **fields) -> str:
    """Save a block and return the reference the flow takes: '<slug>/<name>'."""
    block = make_block(slug, endpoint, **fields)
    block.save(name, overwrite=True)
    return f"{slug}/{name}"
