"""CPU time of process trees and of the whole machine, read from /proc (Linux), for the fleet benchmark.

On a 2-core machine a fleet of workers is bound by CPU before it is bound by a provider's cap: the
seconds each part of the fleet spent (flow-run processes, the API server, the database, S3) say
where a document's cost goes, and the machine's busy time says how much other users took.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": field 3 (state) onwards


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def tree_cpu_seconds(roots: Iterable[int], children: Mapping[int, list[int]] | None = None) -> float:
    """CPU seconds (user + system) of the live processes under `roots` and of the children they reaped.

    A process that exited and was waited for is counted in its parent's cutime/cstime, so a flow run's
    subprocess still counts after it is gone, as long as the worker that started it is alive.
    """
    children = _children() if children is None else children
    total, seen, stack = 0.0, set(), list(roots)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        fields = _stat_fields(pid)
        if fields is None:
            continue
        # utime, stime, cutime, cstime are fields 14-17 of /proc/PID/stat (index 11-14 after the state)
        total += sum(int(value) for value in fields[11:15]) / TICKS
        stack.extend(children.get(pid, []))
    return total


def cpu_by_part(parts: Mapping[str, Iterable[int]]) -> dict[str, float]:
    """CPU seconds of each named group of process trees, read at one moment."""
    children = _children()
    return {name: tree_cpu_seconds(roots, children) for name, roots in parts.items()}


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores, everything but idle and iowait) since boot."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / TICKS
