"""Counters, in-flight tracking, rate windows and the fault queue of each route, and the journal.

Counters per route, and what each one means:
- `requests`: every request that reached the route;
- `paid`, `billed_characters`: requests billed as a provider bills them, once the body was received whole
  and validated, whatever the client or an injected fault does next (a client timeout, a reset after
  receipt, a truncated answer, a long job whose task id never reached the client); `billed_characters`
  counts spoken text (SSML without its markup, a subtitle file's cue text, MaaS-Ele's `character-cost`);
- `served`, `characters`: answers delivered whole (audio sent in full, a long job's task id handed over,
  a result downloaded), and the characters they spoke; `served <= paid` on a billed route;
- `abandoned`: requests whose client had gone before the answer (a timeout, a reset after receipt);
- `faults`: injected faults that struck; `rejected`: refused as invalid or unauthorized (never billed);
  `throttled`: 429 from the concurrency or rate limit (never billed); `in_flight`, `max_in_flight`;
- `mean_in_flight`: requests in flight averaged over time between the first request's arrival and the
  last answer (`in_flight_span_seconds`), idle gaps included: how much of a cap a fleet of clients kept
  in use while it had work (the fleet benchmark); a snapshot taken mid-run counts up to now.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from tts_emulator.config import EmulatorConfig, FaultRule
from tts_emulator.journal import Journal


@dataclass
class RouteStats:
    requests: int = 0
    paid: int = 0  # billed: body received whole and validated
    billed_characters: int = 0
    served: int = 0  # answers delivered whole (audio, a long job's task id, a download)
    abandoned: int = 0  # the client had gone before the answer (billed all the same on a billed route)
    faults: int = 0
    rejected: int = 0  # refused for bad input or auth (4xx)
    throttled: int = 0  # 429 from the concurrency or rate limit
    in_flight: int = 0
    max_in_flight: int = 0
    characters: int = 0
    notes: dict[str, int] = field(default_factory=dict)  # route-specific counts, e.g. context fields sent
    first_served: float | None = None
    last_served: float | None = None
    first_arrival: float | None = None  # monotonic time the first request came in
    last_change: float | None = None  # monotonic time in_flight last changed
    in_flight_area: float = 0.0  # integral of in_flight over time, up to last_change (request-seconds)

    def arrive(self, now: float | None = None) -> None:
        """One more request in flight (`now`: a monotonic time, for tests)."""
        now = time.monotonic() if now is None else now
        self._integrate(now)
        self.first_arrival = now if self.first_arrival is None else self.first_arrival
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self, now: float | None = None) -> None:
        """One request fewer in flight: answered, refused or abandoned."""
        self._integrate(time.monotonic() if now is None else now)
        self.in_flight -= 1

    def _integrate(self, now: float) -> None:
        if self.last_change is not None:
            self.in_flight_area += self.in_flight * max(0.0, now - self.last_change)
        self.last_change = now

    def in_flight_over_time(self, now: float | None = None) -> tuple[float, float]:
        """(mean requests in flight, span in seconds) from the first arrival to the last answer, or to
        `now` while requests are still in flight; (0.0, 0.0) before any request."""
        if self.first_arrival is None or self.last_change is None:
            return 0.0, 0.0
        end, area = self.last_change, self.in_flight_area
        if self.in_flight:
            end = max(end, time.monotonic() if now is None else now)
            area += self.in_flight * (end - self.last_change)
        span = end - self.first_arrival
        return (area / span if span > 0 else float(self.in_flight)), span

    def mark_paid(self, characters: int) -> None:
        self.paid += 1
        self.billed_characters += characters

    def mark_served(self, characters: int) -> None:
        now = time.monotonic()
        self.served += 1
        self.characters += characters
        self.first_served = self.first_served or now
        self.last_served = now

    def note(self, what: str) -> None:
        self.notes[what] = self.notes.get(what, 0) + 1


class EmulatorState:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.stats: dict[str, RouteStats] = {}
        self._windows: dict[str, deque[float]] = {}
        self.journal = Journal()
        self._sequence = 0

    def next_sequence(self) -> int:
        """A number for each request the emulator receives, shared by its journal entries."""
        self._sequence += 1
        return self._sequence

    def route_stats(self, route: str) -> RouteStats:
        return self.stats.setdefault(route, RouteStats())

    def next_fault(self, route: str) -> FaultRule | None:
        """The first fault still due on `route`, consumed once."""
        for rule in self.config.route(route).faults:
            if rule.times is None:
                return rule
            if rule.times > 0:
                rule.times -= 1
                return rule
        return None

    def rate_limited(self, route: str) -> float | None:
        """Seconds until a slot frees when the route is over its rate, else None (and the request counts)."""
        rate = self.config.route(route).rate_per_second
        if not rate:
            return None
        now = time.monotonic()
        window = self._windows.setdefault(route, deque())
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= rate:
            return max(0.001, 1.0 - (now - window[0]))
        window.append(now)
        return None

    def snapshot(self) -> dict:
        now = time.monotonic()
        return {route: self._route_snapshot(s, now) for route, s in self.stats.items()}

    @staticmethod
    def _route_snapshot(s: RouteStats, now: float) -> dict:
        mean_in_flight, span = s.in_flight_over_time(now)
        return {
            "requests": s.requests,
            "paid": s.paid,
            "billed_characters": s.billed_characters,
            "served": s.served,
            "abandoned": s.abandoned,
            "faults": s.faults,
            "rejected": s.rejected,
            "throttled": s.throttled,
            "in_flight": s.in_flight,
            "max_in_flight": s.max_in_flight,
            "characters": s.characters,
            "notes": dict(s.notes),
            "served_span_seconds": (s.last_served - s.first_served) if s.first_served and s.last_served else 0.0,
            "mean_in_flight": mean_in_flight,
            "in_flight_span_seconds": span,
        }

    def reset(self) -> None:
        self.stats.clear()
        self._windows.clear()
        self.journal.clear()
