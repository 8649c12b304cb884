"""Where sources, chunks and narrations live: a base URL and the secret options to reach it."""

from __future__ import annotations

import fsspec
from prefect.blocks.core import Block
from prefect.types import SecretDict
from pydantic import Field

from blocks.documentation import STORAGE_DOCUMENTATION_URL


class NarrationStorage(Block):
    """An fsspec location (s3://, gs://, az://, memory://, a path) and its credentials.

    `register()` hands the options to fsspec's per-protocol defaults in this process, so every
    URL of that protocol opened afterwards uses them, while no key travels in a parameter.

    Example:
        Load saved storage credentials (`narrate --storage narration-storage/<name>` does the same):
        ```python
        from blocks import NarrationStorage

        storage = NarrationStorage.load("BLOCK_NAME")
        ```
    """

    _documentation_url = STORAGE_DOCUMENTATION_URL

    _block_type_name = "Narration Storage"
    _block_type_slug = "narration-storage"
    _description = "Storage for sources, the chunk store and narrations, with its credentials."

    base_url: str = Field(
        default=...,
        title="Base URL",
        description="The location these credentials are for, e.g. s3://my-bucket/narration.",
    )
    storage_options: SecretDict = Field(
        default_factory=lambda: SecretDict({}),
        title="Storage options",
        description='fsspec options, e.g. {"key": "…", "secret": "…", "client_kwargs": {"endpoint_url": "…"}}; kept secret.',
    )

    @property
    def protocol(self) -> str:
        protocol = fsspec.core.split_protocol(self.base_url)[0] or "file"
        return protocol

    def options(self) -> dict:
        return dict(self.storage_options.get_secret_value())

    def register(self) -> None:
        """Make this process open `protocol://` URLs with these options (fsspec.config.conf)."""
        fsspec.config.conf.setdefault(self.protocol, {}).update(self.options())
        fsspec.AbstractFileSystem.clear_instance_cache()

    def filesystem(self) -> fsspec.AbstractFileSystem:
        return fsspec.filesystem(self.protocol, **self.options())

    def url(self, *parts: str) -> str:
        """A URL under the base: url('out') → s3://bucket/prefix/out."""
        return "/".join([self.base_url.rstrip("/"), *(part.strip("/") for part in parts)])
