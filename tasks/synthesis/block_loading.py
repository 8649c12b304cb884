"""From block names in parameters to loaded blocks: names go through Prefect, keys never do."""

from __future__ import annotations

from typing import TypeVar

from prefect.blocks.core import Block

from blocks.local_speech import LocalSpeech
from blocks.narration_storage import NarrationStorage
from blocks.speech_provider import SpeechProvider
from tasks.errors import NarrationInputError
from tasks.synthesis.providers import ENGINES

BlockT = TypeVar("BlockT", bound=Block)


async def load_provider(reference: str | None) -> SpeechProvider:
    """'local-speech' (or nothing) is the offline default; anything else is a saved block '<type>/<name>'."""
    if not reference or reference == LocalSpeech.get_block_type_slug():
        return LocalSpeech()
    slug, name = _parts(reference, "provider", "maas-ele/my-block")
    if slug not in ENGINES:
        raise NarrationInputError("provider", f"unknown provider type {slug!r}; known: {', '.join(sorted(ENGINES))}")
    return await _load_saved(reference, "provider", ENGINES[slug].block_type, "speech provider")


async def load_storage(reference: str) -> NarrationStorage:
    """A saved narration-storage block, '<type>/<name>'."""
    return await _load_saved(reference, "storage", NarrationStorage, "narration-storage")


async def _load_saved(reference: str, field: str, block_class: type[BlockT], what: str) -> BlockT:
    """Load a saved block of `block_class`, or say in the field's name that it is missing or of another kind.

    Loaded through its own class, not through `Block`: Block.aload looks the class up in Prefect's
    registry, which first imports every installed Prefect collection (prefect-redis and, through it,
    redis: 5-7 MB of a narration's memory, for a block type it already knows).
    """
    slug, name = _parts(reference, field, f"{block_class.get_block_type_slug()}/my-block")
    if slug != block_class.get_block_type_slug():
        raise NarrationInputError(field, f"{reference!r} is not a {what} block")
    try:
        return await block_class.aload(name)
    except ValueError as error:
        raise NarrationInputError(field, f"no block {reference!r} is saved ({error})") from None


def _parts(reference: str, field: str, example: str) -> tuple[str, str]:
    """A block reference's type slug and name, or an error naming the field."""
    slug, _, name = reference.partition("/")
    if not name:
        raise NarrationInputError(field, f"{reference!r} names no block; use <type>/<name>, e.g. {example}")
    return slug, name
