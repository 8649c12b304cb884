"""The text room's Prefect task runs: reading a document, reading a subtitle file whole, scanning a folder."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.text.intake import check_text, read_source_text
from tasks.text.sources import SourceDocument, scan_documents


@task(name="read-text")
def read_text(text: str | None, source: str | None, storage_options: dict | None = None) -> str:
    """The normalised document: given inline, or read from a source URL."""
    if text is not None:
        return check_text(text, "text")
    assert source is not None
    return check_text(read_source_text(source, storage_options), "source")


@task(name="read-subtitle-file")
def read_subtitle_file(source: str, storage_options: dict | None = None) -> str:
    """A subtitle source as it is, for providers that take SRT or WebVTT bodies whole."""
    return read_source_text(source, storage_options, raw=True)


@task(name="scan-sources", cache_policy=NO_CACHE)
def scan_sources(source: str, storage_options: dict | None = None) -> list[SourceDocument]:
    """Documents under `source` with their output names and text fingerprints; clashing names are refused."""
    return scan_documents(source, storage_options)
