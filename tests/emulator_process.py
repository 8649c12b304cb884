"""Start the provider emulator as a real process on a free loopback port, steer it, stop it."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx


class EmulatorProcess:
    """`python -m tts_emulator.cli --port 0`, with its `/_emulator` control API at hand."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tts_emulator.cli", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        line = self.process.stdout.readline()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"emulator did not start: {line}")
        self.url = line.rsplit(" ", 1)[-1].strip()
        self.control = httpx.Client(base_url=self.url, timeout=10)

    def stats(self, route: str | None = None) -> dict[str, Any]:
        snapshot = self.control.get("/_emulator/stats").json()
        return snapshot.get(route, {}) if route else snapshot

    def served(self, route: str) -> int:
        return self.stats(route).get("served", 0)

    def requests(self, route: str) -> int:
        return self.stats(route).get("requests", 0)

    def reset(self) -> None:
        self.control.post("/_emulator/reset").raise_for_status()
        self.configure(job_seconds=0.5, result_ttl_seconds=600.0)

    def add_fault(self, route: str, **rule: Any) -> None:
        self.control.post(f"/_emulator/routes/{route}/faults", json=rule).raise_for_status()

    def set_route(self, route: str, **config: Any) -> None:
        self.control.put(f"/_emulator/routes/{route}", json=config).raise_for_status()

    def configure(self, **settings: Any) -> None:
        self.control.patch("/_emulator/config", json=settings).raise_for_status()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
