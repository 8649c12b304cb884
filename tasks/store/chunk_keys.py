"""Chunk keys: what makes two chunks "the same sound", and so paid for once.

A key is the sha256 of a canonical JSON object holding the key version, the chunk's text, the
provider's identity (everything besides text that shapes the sound: provider, endpoint, voice,
speed, model, format…, as each protocol's `identity()` says) and the chunk's continuity context
(text sent around it, where the provider takes any). Stored chunks are found by key alone, so
any change to what enters a key makes every stored chunk a miss that is paid for again: the
test in tests/test_chunk_keys.py pins the keys of a fixed document for every provider.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

KEY_VERSION = 1


def chunk_key(text: str, identity: dict[str, Any], context: dict[str, str]) -> str:
    """The key of a chunk: sha256 over its text, the provider's identity and its continuity context."""
    canonical = json.dumps(
        {"v": KEY_VERSION, "text": text, "identity": identity, "context": context},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
