"""What every text-to-speech provider block holds: its limits, and for HTTP ones, endpoint and key."""

from __future__ import annotations

import ssl
from functools import cache

import httpx
from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from blocks.documentation import PROVIDERS_DOCUMENTATION_URL


class SpeechProvider(Block):
    """Settings every provider shares: per-request limit, chunk size, concurrency, retries."""

    _documentation_url = PROVIDERS_DOCUMENTATION_URL

    _block_schema_capabilities = ["synthesize-speech"]

    max_characters: int = Field(
        default=4096, ge=1, title="Request limit", description="Most characters the provider accepts in one request."
    )
    chunk_characters: int = Field(
        default=1500,
        ge=1,
        title="Chunk size",
        description="Preferred chunk size in characters (at most the request limit): smaller chunks re-synthesize less after an edit.",
    )
    max_concurrency: int = Field(
        default=4,
        ge=1,
        le=256,
        title="Concurrent requests",
        description="Most requests in flight at once to this provider.",
    )
    max_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        title="Attempts per chunk",
        description="Tries per chunk for retryable failures (429, 5xx, timeouts).",
    )
    max_retry_wait_seconds: float = Field(
        default=60.0, gt=0, title="Longest wait", description="Cap on one wait between attempts, Retry-After included."
    )
    requests_per_second: float | None = Field(
        default=None,
        gt=0,
        title="Requests per second",
        description="Provider-wide rate across all workers (a Prefect rate limit).",
    )
    global_limits: bool = Field(
        default=False,
        title="Cap across workers",
        description="Hold the cap and rate across all workers with Prefect global concurrency limits (for providers shared by several workers; a killed run's slots lapse after 60 s).",
    )
    timeout_seconds: float = Field(
        default=120.0, gt=0, title="Request timeout", description="Seconds before a request is abandoned."
    )
    price_per_million_characters: float | None = Field(
        default=None,
        ge=0,
        title="Price per million characters",
        description="What the provider charges, for the estimate `narrate --dry-run` prints (any currency).",
    )

    @property
    def chunk_limit(self) -> int:
        """Characters per chunk: the preferred size, never above the provider's limit."""
        return min(self.chunk_characters, self.max_characters)


@cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verification, built once per process: each build loads the CA bundle (~40 ms)."""
    return httpx.create_ssl_context()


class HttpSpeechProvider(SpeechProvider):
    """A provider reached over HTTP with `Authorization: Bearer <access key>`."""

    endpoint: str = Field(
        default=..., title="Endpoint", description="Base URL of the service, e.g. https://api.example.com."
    )
    access_key: SecretStr = Field(default=..., title="Access key", description="Sent as a Bearer token; never logged.")

    def get_transport(self) -> httpx.AsyncHTTPTransport:
        """The connection pool for this provider, sized to its cap, with TLS verification built once per process."""
        limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
        return httpx.AsyncHTTPTransport(limits=limits, verify=_tls_context())

    def get_client(self, **overrides) -> httpx.AsyncClient:
        """An httpx client for this provider: base URL, auth header, timeouts, and a pool sized to the cap."""
        options = {
            "base_url": self.endpoint.rstrip("/"),
            "headers": {"Authorization": f"Bearer {self.access_key.get_secret_value()}"},
            "timeout": httpx.Timeout(self.timeout_seconds, connect=min(10.0, self.timeout_seconds)),
            "follow_redirects": False,
        }
        options.update(overrides)
        if "transport" not in options:
            options["transport"] = self.get_transport()
        return httpx.AsyncClient(**options)
