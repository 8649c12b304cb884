"""Which emulator route serves each provider contract, by the contract's name (the block type's slug).

Tests find every HTTP provider in the engine registry and ask this table where its paid requests
are counted; a new provider's contract adds its route here.
"""

CONTRACT_ROUTES: dict[str, str] = {
    "openai-speech": "openai",
    "maas-ospeech": "maas-speech",
    "maas-aspeech": "maas-speech",
    "maas-nar": "nar-short",
    "maas-ele": "ele",
}
