"""`narrate-folder`: narrate every new or changed document under a source URL, skip the rest.

A document is unchanged when the manifest of its output already records the same text
fingerprint, the same settings (provider, voice, format, speed, pauses, loudness, sample rate…)
and the same lexicon version. On a server the documents fan out as deployment runs, so every worker
takes a share; without one they run as subflows.

A run per document (`documents_per_run=1`, runs of the `narrate` deployment) shows each document on
its own in the UI. A fleet narrating many documents does better with several per run (runs of this
deployment, each narrating its share as subflows in one process): a flow run's process costs
several CPU-seconds to start, and its documents share one provider gate and hand their slots of the
provider's cap to each other instead of through the API.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import fsspec
from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from prefect.deployments import run_deployment
from pydantic import BaseModel, Field

from flows.allowed import deployment_of_this_run, enforce, roots_for_this_run, within_storage
from flows.narrate import narrate
from flows.parameters import NarrationOptions, NarrationRequest, document_options_of, request_for
from speech_audio.encodings import OutputFormat
from tasks.output.location import join_url
from tasks.synthesis.block_loading import load_storage
from tasks.text.sources import SourceDocument
from tasks.text.task_runs import read_lexicon, scan_sources

NARRATE_DEPLOYMENT = "narrate/narrate"
FOLDER_DEPLOYMENT = "narrate-folder/narrate-folder"  # where a run of a deployment of its own fans out


class FolderResult(BaseModel):
    narrated: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)


def is_current(document: SourceDocument, output: str, request: NarrationRequest, lexicon_version: str | None) -> bool:
    """True when the output's manifest already narrates this very text with these very settings and lexicon."""
    try:
        with fsspec.open(join_url(output, f"{document.name}.manifest.json"), "rb") as file:
            manifest = json.load(file)
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return (
        manifest.get("source_sha256") == document.sha256
        and manifest.get("settings_sha256") == request.settings_sha256()
        and manifest.get("lexicon_version") == lexicon_version
    )


@flow(name="narrate-folder", description="Narrate every new or changed document under a source URL.")
async def narrate_folder(
    source: str,
    output: str = "./narrations/",
    provider: str = "local-speech",
    voice: str | None = None,
    format: OutputFormat = OutputFormat.MP3,
    fan_out: bool | None = None,
    max_parallel: int = 4,
    storage: str | None = None,
    options: NarrationOptions | None = None,
    documents_per_run: Annotated[
        int,
        Field(
            ge=1,
            le=1000,
            description="On a server, documents narrated by one run (1: a run of `narrate` per document; more: "
            "runs of this deployment, each narrating its share in one process, up to `max_parallel` at once). "
            "The folder's run waits for them: a concurrency limit of 1 on this deployment would deadlock.",
        ),
    ] = 1,
    documents: Annotated[
        list[str] | None,
        Field(description="Only these documents under the source (URLs as the scan lists them); empty: all."),
    ] = None,
) -> FolderResult:
    """Scan, compare with existing manifests, and narrate what changed (subflows, or deployment runs on a server)."""
    logger = get_run_logger()
    roots = roots_for_this_run()
    chunk_store = options.chunk_store if options is not None else None
    enforce(roots, source=source, output=output, chunk_store=chunk_store)
    if storage:
        block = await load_storage(storage)
        within_storage(block, source=source, output=output, chunk_store=chunk_store)
        block.register()
    found = scan_sources(source, document_options_of(options), roots, documents)
    result = FolderResult()
    pending = []
    lexicon = options.lexicon if options is not None else None
    lexicon_version = read_lexicon(lexicon).version if lexicon else None

    def request_of(document: SourceDocument) -> NarrationRequest:
        return request_for(
            document.url, output, options, provider=provider, voice=voice, format=format, storage=storage
        )

    for document in found:
        if is_current(document, output, request_of(document), lexicon_version):
            result.skipped.append(document.url)
        else:
            pending.append(document)
    this_deployment = deployment_of_this_run()
    use_deployments = fan_out if fan_out is not None else bool(this_deployment)
    logger.info(
        "%d documents: %d unchanged, %d to narrate (%s)",
        len(found),
        len(result.skipped),
        len(pending),
        "deployment runs" if use_deployments else "subflows",
    )
    slots = asyncio.Semaphore(max_parallel)

    async def one(document: SourceDocument) -> None:
        request = request_of(document)
        async with slots:
            try:
                if use_deployments:
                    run = await run_deployment(
                        NARRATE_DEPLOYMENT,
                        parameters={"request": request.model_dump(mode="json")},
                        timeout=None,
                        as_subflow=True,
                    )
                    if not run.state or not run.state.is_completed():
                        raise RuntimeError(f"run {run.name} ended {run.state.name if run.state else 'without a state'}")
                else:
                    await narrate(request)
                result.narrated.append(document.url)
            except Exception as error:
                logger.error("%s: %s", document.url, error)
                result.failed.append(document.url)

    async def share(group: list[SourceDocument]) -> None:
        """Several documents narrated by one run of this deployment; each counts as narrated once its
        manifest says so (a run that fails part-way has still narrated the rest)."""
        async with slots:
            try:
                run = await run_deployment(
                    this_deployment or FOLDER_DEPLOYMENT,
                    parameters={
                        "source": source,
                        "output": output,
                        "provider": provider,
                        "voice": voice,
                        "format": OutputFormat(format).value,
                        "fan_out": False,
                        "max_parallel": max_parallel,
                        "storage": storage,
                        "options": options.model_dump(mode="json", exclude_unset=True) if options else None,
                        "documents": [document.url for document in group],
                    },
                    timeout=None,
                    as_subflow=True,
                )
                ended = run.state.name if run.state else "without a state"
            except Exception as error:  # noqa: BLE001 - each document is checked below
                ended = f"failed to run: {error}"
        for document in group:
            try:
                done = await asyncio.to_thread(is_current, document, output, request_of(document), lexicon_version)
            except Exception as error:  # noqa: BLE001 - an unreadable manifest counts as not narrated
                done, ended = False, f"{ended}; its manifest could not be read: {error}"
            if done:
                result.narrated.append(document.url)
            else:
                # also when the document or the lexicon changed after this run's scan: the next run narrates it
                logger.error("%s: not narrated as scanned (its run ended %s)", document.url, ended)
                result.failed.append(document.url)

    if use_deployments and documents_per_run > 1:
        groups = [pending[i : i + documents_per_run] for i in range(0, len(pending), documents_per_run)]
        await asyncio.gather(*(share(group) for group in groups))
    else:
        await asyncio.gather(*(one(document) for document in pending))
    await acreate_markdown_artifact(
        key="narrate-folder-part" if documents else "narrate-folder",
        markdown="\n".join(
            ["# narrate-folder", f"Source: `{source}`", ""]
            + [f"- narrated `{url}`" for url in result.narrated]
            + [f"- skipped (unchanged) `{url}`" for url in result.skipped]
            + [f"- **failed** `{url}`" for url in result.failed]
        ),
    )
    if result.failed:
        raise RuntimeError(f"{len(result.failed)} of {len(pending)} documents failed: {', '.join(result.failed)}")
    return result
