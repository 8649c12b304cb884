"""The manifest as indented JSON, written to a stream a list item at a time.

A long book's manifest lists thousands of chunks and tens of thousands of sentences: serialized whole,
its JSON (3 MB for 20 hours) was the largest thing the run made at its very end, when its memory is
at its highest. Pydantic serializes models whole, so the manifest is serialized without its long
lists, and each of their items on its own, spliced in where the empty list was. The bytes are those
`model_dump_json(indent=2)` would give: the tests compare the two.
"""

from __future__ import annotations

import functools
from typing import Any, BinaryIO

from pydantic import TypeAdapter

from tasks.models import Manifest, ManifestChunk, ManifestSentence

INDENT = b"  "
# The long lists, in the order of the manifest's fields, and what their items are.
LONG_LISTS: dict[str, Any] = {"chunks": ManifestChunk, "sentences": ManifestSentence}


@functools.cache
def _item_adapter(name: str) -> TypeAdapter:
    return TypeAdapter(LONG_LISTS[name])


def write_manifest_json(manifest: Manifest, stream: BinaryIO) -> None:
    """Write `manifest` as `model_dump_json(indent=2)` would, holding one item of each long list at a time."""
    shell = Manifest.__pydantic_serializer__.to_json(
        manifest.model_copy(update=dict.fromkeys(LONG_LISTS, [])), indent=len(INDENT)
    )
    written = 0
    for name in LONG_LISTS:
        # A top-level field: a raw newline only separates JSON's lines (strings hold "\n" escaped),
        # and only top-level keys follow one indent.
        empty = b'\n%s"%s": []' % (INDENT, name.encode())
        at = shell.index(empty, written)
        stream.write(shell[written:at])
        written = at + len(empty)
        items = getattr(manifest, name)
        if not items:
            stream.write(empty)
            continue
        stream.write(empty[:-1])  # up to and with the opening bracket
        item_indent = b"\n" + INDENT * 2
        adapter = _item_adapter(name)
        for number, item in enumerate(items):
            if number:
                stream.write(b",")
            stream.write(item_indent + adapter.dump_json(item, indent=len(INDENT)).replace(b"\n", item_indent))
        stream.write(b"\n%s]" % INDENT)
    stream.write(shell[written:])
