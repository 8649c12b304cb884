"""Keep a long narration's memory flat: large sample buffers go back to the system, and few heap arenas.

glibc serves allocations over its mmap threshold with mmap, but raises that threshold each time such
a block is freed (up to 32 MiB), after which chunk-sized numpy buffers come from the heap arenas of
whichever worker thread measured them, and stay there: a 20-hour book's peak memory grew by half.
Fixing the threshold keeps every buffer over 1 MiB in its own mapping, returned when freed.

glibc also gives threads their own heap arenas (up to 8 per core), and each keeps the memory its
thread freed. A run has many short-lived worker threads (file writes, measurement, Prefect's own),
so freed memory ends up spread over arenas nobody reuses; two arenas hold it in fewer places.

Between a run's phases the memory freed inside the arenas is handed back too (`malloc_trim`): the
answers and measurements of the synthesis phase are gone by then, and the last phase (subtitles and
the manifest of a long book) then starts from what is in use, not from the synthesis phase's high water.
During synthesis it is handed back once a minute of audio has been measured (`return_freed_memory_after`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
THRESHOLD_BYTES = 1 << 20
ARENAS = 2
# Seconds of audio measured between hand-backs during synthesis. A chunk's buffers under the threshold are
# reused by the next chunk; handed back after every chunk, each next one faulted its pages in again (about
# 700 page faults for a 3-second chunk: a 400-chunk run spent 3-5 s in the kernel). A chunk this long or
# longer still hands back at once, as every chunk of a long book does.
TRIM_AFTER_SECONDS = 60.0


@functools.cache
def _libc_function(name: str):
    library = ctypes.util.find_library("c")
    if not library:
        return None
    try:
        return getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError):
        return None


@functools.cache
def return_large_buffers() -> bool:
    """Fix glibc's mmap threshold and cap its arenas (once per process); False where the C library is not glibc.

    Call it early (before worker threads start) so that the arena cap applies to them all.
    """
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES)) and bool(mallopt(M_ARENA_MAX, ARENAS))


def return_freed_memory() -> bool:
    """Hand the memory freed inside glibc's arenas back to the system; True if any went back (always False
    where the C library is not glibc)."""
    trim = _libc_function("malloc_trim")
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    return bool(trim(0))


_since_last_trim = 0.0
_since_last_trim_lock = threading.Lock()


def return_freed_memory_after(seconds: float) -> bool:
    """Count `seconds` of audio just measured; hand freed memory back once TRIM_AFTER_SECONDS have been.

    True if memory went back (see return_freed_memory).
    """
    global _since_last_trim
    with _since_last_trim_lock:
        _since_last_trim += seconds
        if _since_last_trim < TRIM_AFTER_SECONDS:
            return False
        _since_last_trim = 0.0
    return return_freed_memory()
