"""Finding the documents under a source URL and fingerprinting their text, through fsspec."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

import fsspec

from tasks.allowed_places import is_allowed
from tasks.errors import NarrationInputError
from tasks.models import text_sha256
from tasks.output.location import name_for
from tasks.text.documents import DocumentOptions
from tasks.text.documents.formats import EXTENSIONS
from tasks.text.intake import load_document

DOCUMENT_SUFFIXES = tuple(EXTENSIONS)


@dataclass(frozen=True)
class SourceDocument:
    url: str
    name: str
    sha256: str  # of the spoken text: the same fingerprint a manifest keeps as `source_sha256`


def document_urls(source: str, storage_options: dict | None = None) -> list[str]:
    """Every document under `source` (a folder or prefix URL), sorted, as full URLs."""
    try:
        fs, root = fsspec.core.url_to_fs(source, **(storage_options or {}))
    except (ValueError, ImportError) as error:
        raise NarrationInputError("source", f"cannot open {source!r}: {error}") from None
    if not fs.exists(root):
        raise NarrationInputError("source", f"{source} does not exist")
    paths = [p for p in fs.find(root) if p.lower().endswith(DOCUMENT_SUFFIXES) and "/." not in p[len(root) :]]
    return [fs.unstrip_protocol(path) for path in sorted(paths)]


def scan_documents(
    source: str,
    options: DocumentOptions | None = None,
    storage_options: dict | None = None,
    roots: list[str] | None = None,
    only: Collection[str] | None = None,
) -> list[SourceDocument]:
    """Documents under `source` with their output names and text fingerprints; clashing names are refused.

    With `roots`, documents that resolve outside them (symlinks leading out) are left out unread. With
    `only` (URLs as this lists them), just those are read: one that is not (or no longer) a document under
    `source` is left out with a warning, so a file removed since a folder's scan costs only itself."""
    urls = document_urls(source, storage_options)
    if only:
        wanted = set(only)
        for url in sorted(wanted - set(urls)):
            logging.getLogger(__name__).warning("%s is not a document under %s; not read", url, source)
        urls = [url for url in urls if url in wanted]
    documents: list[SourceDocument] = []
    owners: dict[str, str] = {}
    for url in urls:
        if roots is not None and not is_allowed(url, roots):
            logging.getLogger(__name__).warning("%s leads outside the allowed places; not read", url)
            continue
        text = load_document(None, url, options=options, storage_options=storage_options).spoken_text()
        name = name_for(url, text_sha256(text), None)
        if name in owners:
            raise NarrationInputError(
                "source", f"{owners[name]} and {url} would both be written as {name!r}; rename one of them"
            )
        owners[name] = url
        documents.append(SourceDocument(url=url, name=name, sha256=text_sha256(text)))
    return documents
