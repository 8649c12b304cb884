"""Errors a user can act on: each names what was wrong and, where one applies, the limit."""

from __future__ import annotations


class NarrationInputError(ValueError):
    """Bad input, found before any money is spent: names the field and the limit."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class AudioCheckError(RuntimeError):
    """A provider's audio did not decode, or its length is implausible for its text.

    `reason` names the way it failed (empty, undecodable, no-samples, silent, implausible-length),
    so the same failure met twice can be told from a different one.
    """

    def __init__(self, message: str, reason: str = "undecodable") -> None:
        self.reason = reason
        super().__init__(message)


class ProviderError(RuntimeError):
    """A provider refused or failed a request; says which provider, status, message and chunk."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status: int | None = None,
        chunk_index: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.provider = provider
        self.status = status
        self.chunk_index = chunk_index
        self.retryable = retryable
        self.retry_after = retry_after
        self.provider_message = message
        where = f" on chunk {chunk_index}" if chunk_index is not None else ""
        status_text = f" HTTP {status}" if status is not None else ""
        super().__init__(f"{provider}{status_text}{where}: {message}")

    def for_chunk(self, chunk_index: int) -> ProviderError:
        """The same error, saying which chunk it happened on."""
        return ProviderError(
            self.provider,
            self.provider_message,
            status=self.status,
            chunk_index=chunk_index,
            retryable=self.retryable,
            retry_after=self.retry_after,
        )
