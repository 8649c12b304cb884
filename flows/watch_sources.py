"""`watch-sources`: find new and changed documents by content hash, and say so with one event each.

The `regenerate` deployment's trigger listens for `narration.source.updated`; the last seen
fingerprints live in a small JSON state file on any fsspec filesystem, written atomically.
"""

from __future__ import annotations

import json

import fsspec
from prefect import flow, get_run_logger
from prefect.events import emit_event

from blocks.narration_storage import NarrationStorage
from flows.allowed import enforce, roots_for_this_run, within_storage
from flows.parameters import NarrationOptions, document_options_of
from tasks.store.atomic_files import write_bytes_atomic
from tasks.text.task_runs import scan_sources

SOURCE_UPDATED_EVENT = "narration.source.updated"


def _load_state(url: str) -> dict[str, str]:
    try:
        with fsspec.open(url, "rb") as file:
            return json.load(file)
    except FileNotFoundError:
        return {}


@flow(name="watch-sources", description="Emit narration.source.updated for every new or changed document.")
def watch_sources(
    source: str,
    state: str = "./narrations/.watch-sources.json",
    storage: str | None = None,
    options: NarrationOptions | None = None,
) -> list[str]:
    """Compare fingerprints with the last run's; emit one event per new or changed document."""
    logger = get_run_logger()
    roots = roots_for_this_run()
    enforce(roots, source=source, state=state)
    if storage:
        block = NarrationStorage.load(storage)
        within_storage(block, source=source, state=state)
        block.register()
    seen = _load_state(state)
    current = {document.url: document.sha256 for document in scan_sources(source, document_options_of(options), roots)}
    changed = [url for url, sha in current.items() if seen.get(url) != sha]
    for url in changed:
        emit_event(
            event=SOURCE_UPDATED_EVENT,
            resource={"prefect.resource.id": f"narration.source.{url}", "narration.source.url": url},
            payload={"url": url, "sha256": current[url], "previous_sha256": seen.get(url)},
        )
    fs, path = fsspec.core.url_to_fs(state)
    write_bytes_atomic(fs, path, json.dumps(current, indent=1, sort_keys=True).encode())
    logger.info("%d documents, %d new or changed", len(current), len(changed))
    return changed
