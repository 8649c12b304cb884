"""Provider protocols, one module each, found by the slug of the block type they serve."""

from __future__ import annotations

from blocks.speech_provider import SpeechProvider
from tasks.synthesis.providers.base import SpeechEngine
from tasks.synthesis.providers.local import LocalEngine
from tasks.synthesis.providers.maas_aspeech import MaasASpeechEngine
from tasks.synthesis.providers.maas_ele import MaasEleEngine
from tasks.synthesis.providers.maas_nar import MaasNarEngine
from tasks.synthesis.providers.openai_speech import MaasOSpeechEngine, OpenAISpeechEngine

ENGINES: dict[str, type[SpeechEngine]] = {
    engine.block_type.get_block_type_slug(): engine
    for engine in (LocalEngine, OpenAISpeechEngine, MaasOSpeechEngine, MaasASpeechEngine, MaasNarEngine, MaasEleEngine)
}


def engine_for(block: SpeechProvider, voice: str | None = None, speed: float | None = None) -> SpeechEngine:
    """The protocol implementation for `block`'s type."""
    slug = block.get_block_type_slug()
    try:
        engine_type = ENGINES[slug]
    except KeyError:
        raise ValueError(f"no synthesis engine for block type {slug!r}; known: {', '.join(ENGINES)}") from None
    return engine_type(block, voice, speed)
