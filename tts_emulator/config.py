"""What the emulator does besides answering correctly: latency, limits and injected faults, per route.

Billing follows a real provider: a request is paid once its body was received whole and validated, whatever
the client or a fault does next. So each fault kind says on which side of that point it strikes:
`status` and `reset` before the body is read (nothing billed); every other kind after (billed).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

ROUTES = ("openai", "maas-speech", "voices", "nar-short", "nar-submit", "nar-status", "nar-result", "ele")

FaultKind = Literal[
    "status",  # before the body is read: answer `status` (429, 500, 502, 503…) in the provider's error shape; not billed
    "reset",  # before the body is read: reset the TCP connection; not billed
    "reset-after-receipt",  # body read and valid (billed), then the connection is reset before any answer
    "hang",  # body read and valid (billed), then wait `seconds` (past the client's timeout) before answering
    "truncate",  # billed: promise the whole audio, send half, close
    "garbage",  # billed: 200 with bytes that are not audio
    "silence",  # billed: 200 with well-formed audio of pure silence (on nar-submit: a job whose result is silence)
    "fail-job",  # long job, billed at submission: finishes with succeeded=false
    "expire-result",  # long job: the result URL has already expired when fetched
    "malformed-status",  # long job: the status answer is not JSON
    "foreign-status-url",  # long job: statusUrl points at another host (a cloud metadata address)
    "foreign-result-url",  # long job: result is a file:// URL
]


class FaultRule(BaseModel):
    """One fault, injected into the next `times` requests of its route (every request if None)."""

    kind: FaultKind
    times: int | None = Field(default=1, ge=0)
    status: int = 503
    retry_after: str | None = Field(default=None, description="Retry-After header: seconds, or 'date:<seconds>'.")
    seconds: float = 30.0
    message: str = "injected fault"


class RouteConfig(BaseModel):
    latency_seconds: float = Field(default=0.0, description="Wait after the body is received (and billed).")
    jitter_seconds: float = 0.0
    max_concurrency: int | None = Field(default=None, description="Beyond this many in flight: 429.")
    rate_per_second: float | None = Field(default=None, description="Beyond this many a second: 429 with Retry-After.")
    faults: list[FaultRule] = Field(default_factory=list)


class EmulatorConfig(BaseModel):
    access_key: str = "emulator-key"
    speech: Literal["espeak", "tone"] = Field(
        default="espeak", description="espeak: real speech; tone: fast bursts, one per sentence (tone.py)."
    )
    job_seconds: float = Field(default=2.0, description="How long a MaaS-nar long job takes.")
    result_ttl_seconds: float = Field(default=600.0, description="How long a long job's result URL stays valid.")
    nar_short_max_characters: int = 3000
    nar_long_max_characters: int = 100_000
    routes: dict[str, RouteConfig] = Field(default_factory=lambda: {route: RouteConfig() for route in ROUTES})

    def route(self, name: str) -> RouteConfig:
        return self.routes.setdefault(name, RouteConfig())
