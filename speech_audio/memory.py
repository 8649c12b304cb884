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
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
THRESHOLD_BYTES = 1 << 20
ARENAS = 2


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
