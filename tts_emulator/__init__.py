"""A local emulator of every provider contract in the spec, speaking real HTTP with real speech.

It imports nothing from the flows, so it can be started alone: `tts-emulator --port 8700`.
"""

from tts_emulator.app import create_app
from tts_emulator.config import EmulatorConfig, FaultRule, RouteConfig

__all__ = ["EmulatorConfig", "FaultRule", "RouteConfig", "create_app"]
