"""One row of the benchmark table, shared by `bench.py` and the benchmarks in modules of their own (fleet.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Row:
    figure: str
    target: str
    measured: str
    passed: bool | None  # None: a figure reported, with no target to pass
