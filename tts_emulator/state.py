"""Counters, in-flight tracking, rate windows and the fault queue of each route."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from tts_emulator.config import EmulatorConfig, FaultRule


@dataclass
class RouteStats:
    requests: int = 0
    served: int = 0  # answers that delivered what is paid for (audio, or an accepted long job)
    faults: int = 0
    rejected: int = 0  # refused for bad input or auth (4xx)
    throttled: int = 0  # 429 from the concurrency or rate limit
    in_flight: int = 0
    max_in_flight: int = 0
    characters: int = 0
    notes: dict[str, int] = field(default_factory=dict)  # route-specific counts, e.g. context fields sent
    first_served: float | None = None
    last_served: float | None = None

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
        return {
            route: {
                "requests": s.requests,
                "served": s.served,
                "faults": s.faults,
                "rejected": s.rejected,
                "throttled": s.throttled,
                "in_flight": s.in_flight,
                "max_in_flight": s.max_in_flight,
                "characters": s.characters,
                "notes": dict(s.notes),
                "served_span_seconds": (s.last_served - s.first_served) if s.first_served and s.last_served else 0.0,
            }
            for route, s in self.stats.items()
        }

    def reset(self) -> None:
        self.stats.clear()
        self._windows.clear()
