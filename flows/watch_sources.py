"""`watch-sources`: find new and changed documents by content hash, and say so with one event each.

The `regenerate` deployment's trigger listens for `narration.source.updated`. A document is done
when the narration at `output` was made from its current version; the state file (any fsspec
filesystem, written atomically) only remembers what was asked for and when, so that an event is not
repeated every interval while a regeneration is under way.
"""

from __future__ import annotations

import json
import time

import fsspec
from prefect import flow, get_run_logger
from prefect.events import emit_event

from blocks.narration_storage import NarrationStorage
from flows.allowed import enforce, roots_for_this_run, within_storage
from flows.parameters import NarrationOptions, document_options_of
from tasks.output.location import join_url
from tasks.store.atomic_files import write_bytes_atomic
from tasks.text.task_runs import read_lexicon, scan_sources

SOURCE_UPDATED_EVENT = "narration.source.updated"


def _load_state(url: str) -> dict[str, str]:
    try:
        with fsspec.open(url, "rb") as file:
            return json.load(file)
    except FileNotFoundError:
        return {}


def narrated_version(output: str, name: str) -> tuple[str | None, str | None]:
    """(source fingerprint, lexicon version) the published narration of `name` was made from, if there is one."""
    try:
        with fsspec.open(join_url(output, f"{name}.manifest.json"), "rb") as file:
            manifest = json.load(file)
    except (FileNotFoundError, ValueError):
        return None, None
    return manifest.get("source_sha256"), manifest.get("lexicon_version")


def _emitted(entry: object) -> tuple[str | None, float]:
    """(fingerprint, when) of a state entry; older state files held the fingerprint alone."""
    if isinstance(entry, dict):
        return entry.get("sha256"), float(entry.get("emitted_at", 0.0))
    return (entry if isinstance(entry, str) else None), 0.0


@flow(name="watch-sources", description="Emit narration.source.updated for every new or changed document.")
def watch_sources(
    source: str,
    state: str = "./narrations/.watch-sources.json",
    storage: str | None = None,
    options: NarrationOptions | None = None,
    output: str = "./narrations/",
    retry_minutes: float = 15.0,
) -> list[str]:
    """Emit one event per document whose current version has no narration at `output` yet.

    A document counts as done only once a narration of that very version is published, so a failed
    regeneration is asked for again, at most every `retry_minutes` while the document stays as it is.
    """
    logger = get_run_logger()
    roots = roots_for_this_run()
    enforce(roots, source=source, state=state, output=output)
    if storage:
        block = NarrationStorage.load(storage)
        within_storage(block, source=source, state=state, output=output)
        block.register()
    seen = _load_state(state)
    now = time.time()
    documents = scan_sources(source, document_options_of(options), roots)
    lexicon = options.lexicon if options is not None else None
    lexicon_version = read_lexicon(lexicon).version if lexicon else None
    due = []
    for document in documents:
        if narrated_version(output, document.name) == (document.sha256, lexicon_version):
            continue  # narrated at this version (and with this lexicon): done
        sha, emitted_at = _emitted(seen.get(document.url))
        if sha != document.sha256 or now - emitted_at >= retry_minutes * 60:
            due.append(document)
    for document in due:
        emit_event(
            event=SOURCE_UPDATED_EVENT,
            resource={"prefect.resource.id": f"narration.source.{document.url}", "narration.source.url": document.url},
            payload={
                "url": document.url,
                "sha256": document.sha256,
                "previous_sha256": _emitted(seen.get(document.url))[0],
            },
        )
        seen[document.url] = {"sha256": document.sha256, "emitted_at": now}
    fs, path = fsspec.core.url_to_fs(state)
    write_bytes_atomic(fs, path, json.dumps(seen, indent=1, sort_keys=True).encode())
    logger.info("%d documents, %d to narrate", len(documents), len(due))
    return [document.url for document in due]
