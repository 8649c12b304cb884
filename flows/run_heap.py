"""While narrations run, the objects that existed before them are left out of the collector's full passes.

A process that narrates holds 200,000-300,000 objects before its first run (Prefect with its server
models, pydantic and FastAPI schemas, PyAV, numpy), and each full garbage collection walks every one:
100-150 ms here with the GIL held. One falling inside a run stalled it whole: answers that arrived
meanwhile waited, and a round of 16 requests came back that much later. Those objects are not a run's
garbage, so each run freezes what exists when it starts (`gc.freeze`) and full passes walk only what
runs create. When the last run in the process ends, everything is unfrozen, so garbage left between
runs (a warm runner, a worker's process) is collected as before.
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
    """Freeze the objects alive now for the block; unfreeze when no run in the process holds the freeze."""
    global _runs
    with _lock:
        gc.freeze()
        _runs += 1
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                gc.unfreeze()
