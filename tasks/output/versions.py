"""Which narration stays published: the one made from the most recently read source, whole.

Runs writing the same narration take turns (a Prefect global limit per manifest URL, held from
assembly to the manifest); inside its turn, a run first looks at the published manifest and leaves
it alone if its source was read after this run's. Chapter files an older version wrote and the new
one no longer has are removed.
"""

from __future__ import annotations

import json
from datetime import datetime

import fsspec

from tasks.models import Manifest


def newer_published(manifest_url: str, read_at: datetime) -> Manifest | None:
    """The published manifest, if its source was read after `read_at` (so it must stay); else None."""
    try:
        with fsspec.open(manifest_url, "rb") as file:
            published = Manifest.model_validate(json.load(file))
    except (FileNotFoundError, ValueError):
        return None
    if published.source_read_at and datetime.fromisoformat(published.source_read_at) > read_at:
        return published
    return None


def prune_superseded(output: str, name: str, manifest: Manifest) -> None:
    """Remove `<name>.NN.*` chapter files that the published manifest no longer names."""
    fs, root = fsspec.core.url_to_fs(output)
    keep = {url for chapter in manifest.chapters for url in [chapter.audio, *chapter.subtitles.values()] if url}
    keep_paths = {fs._strip_protocol(url) for url in keep}
    for path in fs.glob(f"{root.rstrip('/')}/{name}.[0-9][0-9].*"):
        if fs._strip_protocol(path) not in keep_paths:
            fs.rm(path)
