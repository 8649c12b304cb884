"""A run's process heap: the cyclic garbage collector leaves alone what was there before the run.

A flow-run process holds a few hundred thousand long-lived objects (Prefect, pydantic, the flows and
their imports). Python's oldest-generation collection walks them all, with the GIL held: measured in a
400-chunk run, one such pass took 0.18 s while the first 16 requests were in flight, and every one of
them waited for it. Frozen (`gc.freeze`), they are skipped; what the run itself makes is collected as
usual. They are unfrozen when the last run in the process ends, so garbage that was waiting for a
collection when the run began (it is frozen with the rest) is collected then.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_runs_in_progress = 0


@contextlib.contextmanager
def existing_objects_left_out_of_collection() -> Iterator[None]:
    """Freeze the heap for the block; runs that overlap (a warm runner serves several) share one freeze."""
    global _runs_in_progress
    with _lock:
        if _runs_in_progress == 0:
            gc.freeze()
        _runs_in_progress += 1
    try:
        yield
    finally:
        with _lock:
            _runs_in_progress -= 1
            if _runs_in_progress == 0:
                gc.unfreeze()
