"""Start the emulator as a real process on a free loopback port, steer it over HTTP, stop it (tests, benchmarks)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx


class EmulatorProcess:
    """`python -m tts_emulator.cli --port 0`, with its `/_emulator` control API at hand."""

    def __init__(self, *args: str, start_timeout: float = 30.0) -> None:
        # Output goes to a file, not a pipe: a pipe nobody reads fills up and blocks the server.
        self.log = Path(tempfile.mkstemp(prefix="tts-emulator-", suffix=".log")[1])
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tts_emulator.cli", "--port", "0", *args], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + start_timeout
        try:
            while "listening on" not in (first := self.log.read_text().split("\n", 1)[0]):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"emulator did not start: {self.log.read_text()[-2000:]}")
                time.sleep(0.05)
        except BaseException:  # interrupted while starting too (Ctrl-C, SIGTERM): leave nothing running
            self.stop()
            raise
        self.url = first.rsplit(" ", 1)[-1].strip()
        self.control = httpx.Client(base_url=self.url, timeout=10)

    def stats(self, route: str | None = None) -> dict[str, Any]:
        snapshot = self.control.get("/_emulator/stats").json()
        return snapshot.get(route, {}) if route else snapshot

    def served(self, route: str) -> int:
        return self.stats(route).get("served", 0)

    def requests(self, route: str) -> int:
        return self.stats(route).get("requests", 0)

    def paid(self, route: str) -> int:
        """Requests billed on `route`: received whole and valid, whatever happened to the answer."""
        return self.stats(route).get("paid", 0)

    def billed_characters(self, route: str) -> int:
        return self.stats(route).get("billed_characters", 0)

    def recorded(self, route: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The last requests the emulator received (of `route`), oldest first, without credentials."""
        params = {k: v for k, v in {"route": route, "limit": limit}.items() if v is not None}
        return self.control.get("/_emulator/requests", params=params).json()

    def timings(self, route: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Sentence spans (seconds) of the last answers spoken with tone speech, oldest first."""
        params = {k: v for k, v in {"route": route, "limit": limit}.items() if v is not None}
        return self.control.get("/_emulator/timings", params=params).json()

    def reset(self, *, routes: bool = False) -> None:
        """Clear counters, journal, jobs and faults (`routes`: also every route's latency and limits)."""
        self.control.post("/_emulator/reset", json={"routes": True} if routes else None).raise_for_status()
        self.configure(job_seconds=0.5, result_ttl_seconds=600.0)

    def add_fault(self, route: str, **rule: Any) -> None:
        self.control.post(f"/_emulator/routes/{route}/faults", json=rule).raise_for_status()

    def set_route(self, route: str, **config: Any) -> None:
        self.control.put(f"/_emulator/routes/{route}", json=config).raise_for_status()

    def configure(self, **settings: Any) -> None:
        self.control.patch("/_emulator/config", json=settings).raise_for_status()

    def stop(self) -> None:
        if hasattr(self, "control"):  # absent when the process failed to start
            self.control.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
