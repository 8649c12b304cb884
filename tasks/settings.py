"""Process-wide limits, from the environment (prefix `NARRATION_`), not from flow parameters."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NarrationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NARRATION_", env_file=".env", extra="ignore")

    max_source_characters: int = Field(
        default=5_000_000, description="Longest document accepted, in characters (~90 h of speech)."
    )
    max_source_bytes: int = Field(default=64 * 1024 * 1024, description="Largest source file read.")
    allowed_roots: str = Field(
        default="",
        description="Comma-separated folders and URL prefixes deployment runs may read and write; empty: the working folder.",
    )


@lru_cache(maxsize=1)
def settings() -> NarrationSettings:
    return NarrationSettings()
