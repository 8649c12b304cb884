"""A local emulator of every provider contract in the spec, speaking real HTTP with real speech.

It imports nothing from the flows, so it can be started alone: `tts-emulator --port 8700`. The exports load
on first use, so a test that only drives the emulator process (`tts_emulator.process`) imports no aiohttp.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "create_app": "tts_emulator.app",
    "EmulatorConfig": "tts_emulator.config",
    "FaultRule": "tts_emulator.config",
    "RouteConfig": "tts_emulator.config",
}
__all__ = ["EmulatorConfig", "FaultRule", "RouteConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tts_emulator' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
