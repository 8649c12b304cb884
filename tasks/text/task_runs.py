"""The text room's Prefect task runs: reading a document, reading a subtitle file whole, scanning a folder."""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.text.documents import Document, DocumentOptions
from tasks.text.intake import load_document, read_source_bytes
from tasks.text.lexicon import Lexicon, load_lexicon
from tasks.text.sources import SourceDocument, scan_documents


@task(name="read-document", cache_policy=NO_CACHE)
async def read_document(
    text: str | None,
    source: str | None,
    input_format: str | None = None,
    options: DocumentOptions | None = None,
    storage_options: dict | None = None,
) -> Document:
    """The document to narrate, parsed by its format: given inline, or read from a source URL.

    Async, parsing in a worker thread: a sync task run in an async flow opens an API client of its own."""
    return await asyncio.to_thread(load_document, text, source, input_format, options, storage_options)


@task(name="read-lexicon", cache_policy=NO_CACHE)
def read_lexicon(url: str) -> Lexicon:
    """The pronunciation lexicon at `url` (YAML or CSV), refused naming the line of a bad entry."""
    return load_lexicon(read_source_bytes(url, field="lexicon"), url)


@task(name="read-subtitle-file", cache_policy=NO_CACHE)
def read_subtitle_file(source: str) -> str:
    """A subtitle source as it is, for providers that take SRT or WebVTT bodies whole."""
    return read_source_bytes(source).decode("utf-8-sig")


@task(name="scan-sources", cache_policy=NO_CACHE)
def scan_sources(
    source: str,
    options: DocumentOptions | None = None,
    roots: list[str] | None = None,
    only: list[str] | None = None,
) -> list[SourceDocument]:
    """Documents under `source` with their output names and text fingerprints; clashing names are refused.

    With `roots`, a document that resolves outside them (a symlink out of the folder) is never read; with
    `only`, just those documents under `source` are read."""
    return scan_documents(source, options, roots=roots, only=only)
