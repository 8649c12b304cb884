"""Library code and Prefect task runs, grouped by job into rooms.

- `tasks.text`: reading documents and cutting them into chunks.
- `tasks.synthesis`: planning requests, the provider gate, retries, checks, and one protocol
  module per provider (`tasks.synthesis.providers`).
- `tasks.store`: the chunk store, encoded segments, atomic writes.
- `tasks.output`: assembly, subtitles, the manifest, publishing, progress.

Each room's `__init__` names its public functions and imports them only when first used, so
that importing one module (the CLI's input checks, say) does not import PyAV or Prefect. Each
room's Prefect task runs are in its `task_runs` module; everything else imports no Prefect
(except where a module's job is to talk to Prefect: block loading, global limits, progress).
`errors`, `models` and `settings` are shared by every room.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for a room: `names` maps a public name to the module (relative) defining it."""

    def __getattr__(name: str) -> Any:
        try:
            module = names[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        return getattr(importlib.import_module(module, package), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
