"""MaaS-nar text-to-speech: short requests answer audio at once; long ones run as polled jobs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from blocks.speech_provider import HttpSpeechProvider


class MaasNar(HttpSpeechProvider):
    """MaaS-nar (`/tts-n/text-to-speech/{format}`): voice, speed and volume as query parameters.

    Example:
        Load a saved block and narrate with it (`narrate --provider <type>/<name>` does the same):
        ```python
        from blocks import MaasNar

        block = MaasNar.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "MaaS Nar"
    _block_type_slug = "maas-nar"
    _description = "MaaS-nar text-to-speech: short requests, and long jobs polled to completion."

    voice: str = Field(default="Yifei", title="Voice", description="A MaaS-nar voice name, e.g. Yifei.")
    speed: float = Field(default=1.0, ge=0.3, le=2.0, title="Speed", description="0.3 to 2 (sent as voice-speed).")
    volume: Literal["x-loud", "loud", "standard", "soft", "x-soft", "normalized"] = Field(
        default="standard", title="Volume", description="voice-volume."
    )
    short_format: Literal["mp3", "m4a"] = Field(
        default="mp3", title="Short format", description="Format of short requests."
    )
    long_format: Literal["mp3", "m4a", "wav"] = Field(
        default="wav", title="Long-job format", description="wav is lossless."
    )
    short_max_characters: int = Field(
        default=1000,
        ge=1,
        title="Short request limit",
        description="Chunks up to this size go as short requests; longer ones as long jobs.",
    )
    max_characters: int = Field(
        default=20_000, ge=1, title="Long job limit", description="Most characters in one long job."
    )
    chunk_characters: int = Field(
        default=800,
        ge=1,
        title="Chunk size",
        description="Preferred chunk size; above the short limit, long jobs are used.",
    )
    poll_interval_seconds: float = Field(
        default=5.0, gt=0, title="Poll interval", description="Seconds between status polls (5 to 10 per the contract)."
    )
    job_timeout_seconds: float = Field(
        default=3600.0, gt=0, title="Job timeout", description="A job not finished by then fails naming its task id."
    )
    max_job_submissions: int = Field(
        default=2,
        ge=1,
        le=10,
        title="Submissions per chunk",
        description="Re-submissions after a failed or expired job.",
    )
    max_result_bytes: int = Field(
        default=512 * 1024 * 1024, ge=1, title="Largest result", description="Downloads over this size are refused."
    )
