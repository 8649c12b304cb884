"""Large sample buffers go back to the operating system when freed.

glibc serves allocations over its mmap threshold with mmap, but raises that threshold each time such
a block is freed (up to 32 MiB), after which chunk-sized numpy buffers come from the heap arenas of
whichever worker thread measured them, and stay there: a 20-hour book's peak memory grew by half.
Fixing the threshold keeps every buffer over 1 MiB in its own mapping, returned when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_MMAP_THRESHOLD = -3
THRESHOLD_BYTES = 1 << 20


@functools.cache
def return_large_buffers() -> bool:
    """Fix glibc's mmap threshold (once per process); False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES))
