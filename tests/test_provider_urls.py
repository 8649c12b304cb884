"""URLs a provider hands back are followed only to that provider, over http(s): a decision table."""

from __future__ import annotations

import pytest

from tasks.errors import ProviderError
from tasks.synthesis.provider_urls import check_provider_url

ENDPOINT = "https://maas.example.com/base"


@pytest.mark.parametrize(
    "url",
    [
        "https://maas.example.com/status/1",
        "https://maas.example.com:443/status/1",
        "https://MAAS.example.com/result?sig=x",
    ],
)
def test_same_host_and_port_is_followed(url):
    assert check_provider_url(url, ENDPOINT, "maas-nar", "status URL") == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme 'file'"),
        ("ftp://maas.example.com/x", "scheme 'ftp'"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("https://maas.example.com.evil.net/x", "evil"),
        ("https://maas.example.com:8443/x", "not the provider's host"),
        ("http://maas.example.com/x", "not the provider's host"),  # port 80, not 443
        ("https://user@other.example.com/x", "other.example.com"),
    ],
)
def test_anything_else_is_refused_for_good(url, reason):
    with pytest.raises(ProviderError, match=reason) as refused:
        check_provider_url(url, ENDPOINT, "maas-nar", "result URL")
    assert refused.value.retryable is False


@pytest.mark.parametrize("url", [None, "", 42])
def test_a_missing_url_is_worth_asking_again(url):
    with pytest.raises(ProviderError, match="missing") as missing:
        check_provider_url(url, ENDPOINT, "maas-nar", "status URL")
    assert missing.value.retryable is True
