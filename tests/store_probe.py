"""Test helper: what a chunk store holds, counted the way users pay for it."""

from __future__ import annotations

from pathlib import Path


def is_chunk_record(name: str) -> bool:
    """`<key>.json` is a chunk's record; `<key>.analysis.json` a sidecar, segments and job records live apart."""
    return name.endswith(".json") and name.count(".") == 1


def chunk_records(store: Path) -> list[Path]:
    """The chunk records of a local store."""
    return [record for record in store.glob("??/*.json") if is_chunk_record(record.name)]
