"""`regenerate`: re-narrate one document after it changed; the chunk store makes only edits cost money."""

from __future__ import annotations

from prefect import flow

from flows.allowed import enforce, roots_for_this_run
from flows.narrate import narrate
from flows.parameters import NarrationOptions, request_for
from speech_audio.encodings import OutputFormat
from tasks.errors import NarrationInputError
from tasks.models import Manifest
from tasks.synthesis.global_limits import exclusive_name, held_alone


@flow(name="regenerate", description="Re-narrate a changed document, paying only for changed chunks.")
async def regenerate(
    document: str,
    output: str = "./narrations/",
    provider: str = "local-speech",
    voice: str | None = None,
    format: OutputFormat = OutputFormat.MP3,
    storage: str | None = None,
    options: NarrationOptions | None = None,
) -> Manifest:
    """Narrate `document` again into `output` (same name, same chunk store: unchanged chunks are free)."""
    if not document:
        raise NarrationInputError("document", "no document URL came with the event (expected event.payload.url)")
    enforce(roots_for_this_run(), document=document, output=output)
    async with held_alone(exclusive_name("document", document)):  # one regeneration of a document at a time
        return await narrate(
            request_for(document, output, options, provider=provider, voice=voice, format=format, storage=storage)
        )
