"""What every HTTP provider shares: one client, and one reading of error answers.

Error bodies come in each service's shape (OpenAI `{"error": {"message"}}`, ElevenLabs
`{"detail": {"message"}}` or a validation list, Azure-style `{"error": {"code", "message"}}`);
the message is taken from whichever is there. The key is never part of an error: messages
come from the provider's body and the request line, not from the request's headers.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from blocks.speech_provider import HttpSpeechProvider
from tasks.errors import ProviderError
from tasks.synthesis.providers.answer_body import AnswerBody, discard_file, read_body
from tasks.synthesis.providers.base import SpeechEngine
from tasks.synthesis.retry_policy import RETRYABLE_STATUSES, parse_retry_after

_MAX_MESSAGE = 300


def provider_message(response: httpx.Response) -> str:
    """The provider's own words from an error body, shortened; the reason phrase if there are none."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        text = response.text.strip() if response.content else ""
        return (text[:_MAX_MESSAGE] or response.reason_phrase) or f"HTTP {response.status_code}"
    detail = body.get("error") or body.get("detail") if isinstance(body, dict) else body
    if isinstance(detail, dict):
        message = detail.get("message") or detail.get("msg") or json.dumps(detail)
    elif isinstance(detail, list) and detail and isinstance(detail[0], dict):
        message = "; ".join(str(item.get("msg") or item) for item in detail)
    else:
        message = str(detail or body)
    return message[:_MAX_MESSAGE]


def error_from_response(provider: str, response: httpx.Response, max_wait: float) -> ProviderError:
    """A ProviderError saying whether a retry can help, with the wait the provider asked for (capped)."""
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return ProviderError(
        provider,
        provider_message(response),
        status=response.status_code,
        retryable=response.status_code in RETRYABLE_STATUSES,
        retry_after=min(retry_after, max_wait) if retry_after is not None else None,
    )


class HttpEngine(SpeechEngine):
    """An engine that talks to its provider through the block's configured httpx client."""

    block: HttpSpeechProvider

    def __init__(self, block: HttpSpeechProvider, voice: str | None, speed: float | None) -> None:
        super().__init__(block, voice, speed)
        self._client: httpx.AsyncClient | None = None
        self._transport: httpx.AsyncHTTPTransport | None = None
        self._urls: dict[tuple[str, tuple], httpx.URL] = {}

    @property
    def client(self) -> httpx.AsyncClient:
        """The block's client: it builds requests (base URL, key, timeouts) and owns the transport."""
        if self._client is None:
            self._transport = self.block.get_transport()
            self._client = self.block.get_client(transport=self._transport)
        return self._client

    async def send(self, method: str, url: str, **options: Any) -> httpx.Response:
        """Send a request and read its answer whole; any non-2xx answer becomes a classified ProviderError."""
        response = await self._open(method, url, options)
        try:
            await response.aread()
        finally:
            await response.aclose()
        if response.is_success:
            return response
        raise error_from_response(self.label, response, self.block.max_retry_wait_seconds)

    async def send_for_audio(self, method: str, url: str, **options: Any) -> tuple[httpx.Headers, AnswerBody]:
        """Send a request whose answer is audio: its headers, and its body in memory or, when large, in a
        local file (answer_body says why). Errors are classified as `send` classifies them."""
        response = await self._open(method, url, options)
        try:
            if not response.is_success:
                await response.aread()
                raise error_from_response(self.label, response, self.block.max_retry_wait_seconds)
            body = await read_body(response, self.answer_folder)
        except BaseException:
            await response.aclose()
            raise
        try:
            await response.aclose()
        except BaseException:  # interrupted while closing: the answer is dropped, and its file with it
            discard_file(body.file)
            raise
        return response.headers, body

    async def _open(self, method: str, url: str, options: dict[str, Any]) -> httpx.Response:
        """Send the request; the answer's body is still to be read.

        The request goes straight to the transport, whose responses hold no reference back to
        themselves: a client's `send` links a response and its stream both ways, so each body
        stayed in memory until the cyclic garbage collector ran (a 20-hour narration grew its
        memory by 60 % that way). Redirects are not followed anyway, and nothing else of the
        client's sending is needed.
        """
        request = self._request(method, url, options)
        assert self._transport is not None
        return await self._transport.handle_async_request(request)

    def _request(self, method: str, url: str, options: dict[str, Any]) -> httpx.Request:
        """The request, its URL joined to the base URL with its query params once per engine: a narration sends
        the same few URLs hundreds of times, and parsing and merging each anew was most of the cost of building one."""
        params = options.pop("params", None)
        if self.client.params:  # the client's own params are merged by build_request, under the request's: as is
            return self.client.build_request(method, url, params=params, **options)
        key = (url, tuple(params.items()) if params else ())
        if (merged := self._urls.get(key)) is None:
            merged = self._urls[key] = self.client.build_request(method, url, params=params).url
        return self.client.build_request(method, merged, **options)

    def identity(self) -> dict[str, Any]:
        return {"provider": self.slug, "endpoint": self.block.endpoint.rstrip("/")}

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
