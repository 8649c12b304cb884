"""While narrations run, the objects that existed before them are left out of the collector's full passes.

A process that narrates holds 200,000-300,000 objects before its first run (Prefect with its server
models, pydantic and FastAPI schemas, PyAV, numpy), and each full garbage collection walks every one:
100-150 ms on a 2-core machine, with the GIL held. One falling inside a run stalled it whole: answers
that arrived meanwhile waited, and a round of 16 requests came back that much later. Those objects are
not a run's garbage, so the first run to start freezes what exists then (`gc.freeze`), and full passes
walk only what runs create. Runs that start while another holds the freeze freeze nothing more: their
neighbours' objects, garbage included, stay collectable. When the last run in the process ends,
everything is unfrozen, so what was frozen and has since become garbage (a warm runner, a worker's
process) is collected as before.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_runs = 0


@contextlib.contextmanager
def objects_before_runs_frozen() -> Iterator[None]:
    """For the block: the objects alive when the first of the process's overlapping runs began stay frozen."""
    global _runs
    with _lock:
        if _runs == 0:
            gc.freeze()
        _runs += 1
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                gc.unfreeze()
