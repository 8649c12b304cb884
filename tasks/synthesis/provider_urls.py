"""URLs a provider hands back (status, result) are followed only to that provider, over http(s).

A compromised or buggy provider must not make us read `file://` paths, a cloud metadata
address, or any host other than its own endpoint's.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tasks.errors import ProviderError


def check_provider_url(url: object, endpoint: str, provider: str, what: str) -> str:
    """Return `url` if it is http(s) on the endpoint's host (and port); else a non-retryable error."""
    if not isinstance(url, str) or not url:
        raise ProviderError(provider, f"the {what} is missing from the provider's answer", retryable=True)
    parts, home = urlsplit(url), urlsplit(endpoint)
    if parts.scheme not in ("http", "https"):
        raise ProviderError(provider, f"refusing to follow a {what} with scheme {parts.scheme!r}: {url[:200]}")
    if (parts.hostname, parts.port or _default_port(parts.scheme)) != (
        home.hostname,
        home.port or _default_port(home.scheme),
    ):
        raise ProviderError(
            provider, f"refusing to follow a {what} to {parts.hostname!r}, not the provider's host {home.hostname!r}"
        )
    return url


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80
