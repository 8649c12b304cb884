"""B7's figures: the sizes, what one fleet run measured, and how it is told (the table's row, and why on stderr).

The fleet itself (servers, workers, the folder's run) is started and stopped in `fleet.py`.
"""

from __future__ import annotations

import os
import statistics
import sys
from dataclasses import dataclass, field

from benchmarks.rows import Row

CAP = 8
WORKERS = 3
LATENCY_SECONDS = 0.5
TARGET_SHARE = 0.85


@dataclass(frozen=True)
class FleetSize:
    documents: int
    chunks: int  # per document
    timeout_seconds: float  # for the folder's run: past it, the benchmark reports what it has and stops


FULL = FleetSize(60, 20, 1800)
SMOKE = FleetSize(6, 4, 600)


@dataclass
class FleetResult:
    """What one fleet run measured; the lists are for diagnosis when the cap is not in use."""

    database: str
    size: FleetSize
    wall_seconds: float  # the folder run, from its creation to its final state
    mean_in_flight: float
    span_seconds: float  # first request's arrival to last answer
    served: int
    max_in_flight: int
    narrated: int  # documents whose manifest was written
    failed_runs: int  # the folder's run and its runs not Completed, and runs due that were not made
    problems: list[str]  # what went wrong, for diagnosis
    trouble: dict[str, list[str]]
    workers_used: int
    start_delays: list[float] = field(default_factory=list)  # a run's creation to its Running state
    run_seconds: list[float] = field(default_factory=list)  # a run's Running to its end
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (seconds, requests in flight) samples
    server_errors: int = 0  # 5xx other than 503 in the server's and workers' logs
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # by part of the fleet, during the folder run
    machine_busy_seconds: float = 0.0  # the whole machine, other users included, during the folder run

    @property
    def documents_per_minute(self) -> float:
        """Documents narrated (not merely attempted) per minute of the folder's run."""
        return self.narrated / self.wall_seconds * 60

    @property
    def cap_share(self) -> float:
        return self.mean_in_flight / CAP

    @property
    def refusals(self) -> int:
        return sum(len(lines) for lines in self.trouble.values())


def describe(result: FleetResult) -> None:
    """Where the time went, on stderr: the table has the figures, this says why."""
    delays, runs = sorted(result.start_delays), sorted(result.run_seconds)

    def spread(values: list[float]) -> str:
        return f"median {statistics.median(values):.1f} s, {values[0]:.1f}-{values[-1]:.1f} s" if values else "none"

    print(
        f"B7 {result.database}: wall {result.wall_seconds:.0f} s, requests span {result.span_seconds:.0f} s, "
        f"max in flight {result.max_in_flight}, {result.workers_used} workers ran the runs; "
        f"run start delay {spread(delays)}; run duration {spread(runs)}",
        file=sys.stderr,
    )
    buckets: dict[int, list[int]] = {}
    for seconds, in_flight in result.timeline:
        buckets.setdefault(int(seconds // 10), []).append(in_flight)
    line = " ".join(f"{10 * key}s:{statistics.mean(values):.1f}" for key, values in sorted(buckets.items()))
    print(f"  in flight, mean per 10 s: {line}", file=sys.stderr)
    busy = [in_flight for _, in_flight in result.timeline if in_flight]
    if busy:  # no request in flight at all: no run was in its synthesis phase (starting, or assembling)
        print(
            f"  a request in flight in {len(busy) / len(result.timeline):.0%} of the half-second samples; "
            f"{statistics.mean(busy):.1f} in flight on average in those",
            file=sys.stderr,
        )
    documents = result.size.documents
    parts = ", ".join(f"{name} {seconds / documents:.2f}" for name, seconds in result.cpu_seconds.items())
    print(
        f"  CPU seconds per document: {sum(result.cpu_seconds.values()) / documents:.2f} ({parts}); "
        f"machine busy {result.machine_busy_seconds / result.wall_seconds:.2f} cores of {os.cpu_count()}, "
        f"{result.server_errors} server errors (5xx but 503) in the logs",
        file=sys.stderr,
    )
    for name, lines in result.trouble.items():
        print(f"  {name}: {len(lines)} refusals, e.g. {lines[0][:200]}", file=sys.stderr)
    for problem in result.problems[:5]:
        print(f"  problem: {problem[:300]}", file=sys.stderr)


def row(result: FleetResult) -> Row:
    size = result.size
    label = (
        f"B7 fleet, {result.database}, {size.documents} documents × {size.chunks} chunks, "
        f"{LATENCY_SECONDS * 1000:.0f} ms, cap {CAP} shared by {WORKERS} workers"
    )
    locked = sum("locked" in line.lower() for lines in result.trouble.values() for line in lines)
    measured = (
        f"{result.documents_per_minute:.1f} docs/min ({result.narrated} narrated in {result.wall_seconds:.0f} s); "
        f"{result.mean_in_flight:.2f} in flight = {percent(result.cap_share)} of cap over {result.span_seconds:.0f} s; "
        f"{result.failed_runs} failed runs; {result.refusals - locked} × 503, {locked} × locked, "
        f"{result.server_errors} × other 5xx"
    )
    if result.database == "PostgreSQL":
        passed = result.cap_share >= TARGET_SHARE and not result.problems and not result.refusals
        return Row(label, f"≥ {percent(TARGET_SHARE)} of cap, 0 failed", measured, passed)
    return Row(label, "report", measured, None)


def percent(share: float) -> str:
    return f"{share * 100:.0f} %"
