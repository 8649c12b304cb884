"""A local Prefect server in the background, shared by every `narrate` command of this user.

Prefect 3 cannot run a flow without an API, and an ephemeral server costs 15-20 s per command. So the
first command starts `prefect server start --background` on a free loopback port and records it; later
commands find it through that record and pay one health check. This module imports no Prefect: it runs
the `prefect` executable next to this interpreter, so a command that only asks for status stays fast.

Files in the server's home (PREFECT_HOME, else a data folder of this tool, never ~/.prefect):
`server.pid` (Prefect's own), `narrate-server.json` (URL and pid), `narrate-server.lock` (one starter).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

RECORD_NAME = "narrate-server.json"
LOCK_NAME = "narrate-server.lock"
PREFECT_PID_NAME = "server.pid"  # written by `prefect server start --background`, read by `prefect server stop`
HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 300.0  # the first start migrates SQLite: 30-40 s here, 110 s seen with the cores busy
BUSY_GRACE_SECONDS = 15.0  # a live server that does not answer may be busy; give it this long before replacing it
STOP_TIMEOUT_SECONDS = 15.0
_SERVER_MARK = "prefect.server.api.server:create_app"  # in the uvicorn command line Prefect starts


class LocalServerError(RuntimeError):
    """The local server could not be started or stopped; the message says what to run to see why."""


@dataclass(frozen=True)
class LocalServer:
    """A recorded background server: where its API is, its process, and the home it keeps its database in."""

    url: str
    pid: int
    home: Path


def default_home(environ: Mapping[str, str] = os.environ) -> Path:
    """PREFECT_HOME if set, else `$XDG_DATA_HOME/narration-orchestrator/prefect` (~/.local/share by default)."""
    if environ.get("PREFECT_HOME"):
        return Path(environ["PREFECT_HOME"]).expanduser()
    data = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "narration-orchestrator" / "prefect"


def status(home: Path | None = None, *, grace: float = 0.0) -> LocalServer | None:
    """The recorded server if its process is alive and `/api/health` answers (within `grace` seconds), else None."""
    home = home or default_home()
    server = _read_record(home)
    if server is None or not _is_server_process(server.pid):
        return None
    return server if _wait_healthy(server, grace) else None


def is_current(server: LocalServer) -> bool:
    """Still the recorded server, and its process alive: no HTTP, cheap enough to ask every second."""
    return _read_record(server.home) == server and _is_server_process(server.pid)


def ensure(home: Path | None = None, *, announce: Callable[[str], None] | None = None) -> LocalServer:
    """The running server of `home`, started first if there is none (or the recorded one is dead)."""
    home = home or default_home()
    if server := status(home):
        return server
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _locked(home, announce):
        # Another command may have started it while this one waited for the lock; a live but silent
        # server may be busy with a run, so it gets a grace period before it is replaced.
        recorded = _read_record(home)
        if server := status(home, grace=BUSY_GRACE_SECONDS if recorded else 0.0) or _adopt(home):
            return server
        if announce:
            announce("starting a local Prefect server (first run only)...")
        _stop_locked(home)
        return _start_locked(home)


def start(home: Path | None = None) -> LocalServer:
    """Start the server of `home` unless it is running; the same as `ensure`, without messages."""
    return ensure(home)


def stop(home: Path | None = None) -> LocalServer | None:
    """Stop the recorded server and remove its records; returns what was stopped, None if nothing ran."""
    home = home or default_home()
    if not home.exists():
        return None
    with _locked(home, None):
        return _stop_locked(home)


def _start_locked(home: Path) -> LocalServer:
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # Prefect pipes the server's output to a parent that exits at once: keep it to real problems.
        PREFECT_SERVER_LOGGING_LEVEL="WARNING",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    for _ in range(3):  # the free port can be taken between choosing it and the server binding it
        port = _free_port()
        command = [
            *_prefect_command(),
            "--no-prompt",  # else `server start` may offer to rewrite the user's profiles
            *("server", "start", "--background", "--analytics-off", "--host", HOST, "--port", str(port)),
        ]
        # A session of its own: Ctrl-C in the terminal, or the terminal closing, must not reach the server.
        started = subprocess.run(
            command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, start_new_session=True
        )
        said = (started.stdout + started.stderr).strip()
        if "already in use" not in said:
            break
    pid = _read_pid(home / PREFECT_PID_NAME)
    if started.returncode != 0 or pid is None:
        last = said.splitlines()[-1] if said else f"exit code {started.returncode}"
        raise LocalServerError(f"`prefect server start --background` failed in {home}: {last}")
    server = LocalServer(url=f"http://{HOST}:{port}/api", pid=pid, home=home)
    if not _wait_healthy(server, START_TIMEOUT_SECONDS, require_alive=True):
        _terminate(pid)
        (home / PREFECT_PID_NAME).unlink(missing_ok=True)
        raise LocalServerError(
            f"the local Prefect server did not answer on {server.url} within {START_TIMEOUT_SECONDS:.0f} s; "
            f"run `PREFECT_HOME={home} {_prefect_command()[0]} server start` to see why"
        )
    _write_record(server)
    return server


def _adopt(home: Path) -> LocalServer | None:
    """A background server Prefect already runs from this home (`prefect server start -b`): use it, record it."""
    pid = _read_pid(home / PREFECT_PID_NAME)
    words = (_server_command_line(pid) or "").split() if pid else []
    if "--port" not in words[:-1]:
        return None
    host = words[words.index("--host") + 1] if "--host" in words[:-1] else HOST
    server = LocalServer(url=f"http://{host}:{words[words.index('--port') + 1]}/api", pid=pid, home=home)
    if not _wait_healthy(server, BUSY_GRACE_SECONDS, require_alive=True):
        return None
    _write_record(server)
    return server


def _stop_locked(home: Path) -> LocalServer | None:
    """Stop whatever server the records name (ours, or a background server Prefect left in this home)."""
    server = _read_record(home)
    prefect_pid = _read_pid(home / PREFECT_PID_NAME)
    pids = {pid for pid in (server and server.pid, prefect_pid) if pid and _is_server_process(pid)}
    if prefect_pid in pids:
        # Prefect's own stop: SIGTERM to the pid in server.pid, and it removes that file.
        subprocess.run(
            [*_prefect_command(), "--no-prompt", "server", "stop"],
            env={**os.environ, "PREFECT_HOME": str(home)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )
    for pid in pids:
        _terminate(pid)
    (home / PREFECT_PID_NAME).unlink(missing_ok=True)
    (home / RECORD_NAME).unlink(missing_ok=True)
    return server if server and server.pid in pids else None


def _terminate(pid: int) -> None:
    """SIGTERM, then SIGKILL to its process group if it is still alive after STOP_TIMEOUT_SECONDS."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT_SECONDS), (signal.SIGKILL, 5.0)):
        if not _is_server_process(pid):
            return
        try:
            if sig == signal.SIGKILL:
                os.killpg(os.getpgid(pid), sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while _is_server_process(pid) and time.monotonic() < deadline:
            time.sleep(0.1)


def _wait_healthy(server: LocalServer, seconds: float, *, require_alive: bool = False) -> bool:
    """True once `/api/health` answers; polls for up to `seconds` (one try if 0)."""
    import httpx  # here, not at the top: a warm runner's client never checks health and skips its import

    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=2.0, trust_env=False) as client:  # loopback: no proxy from the environment
        while True:
            try:
                if client.get(f"{server.url}/health").status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            if time.monotonic() >= deadline or (require_alive and not _is_server_process(server.pid)):
                return False
            time.sleep(0.25)


def _is_server_process(pid: int) -> bool:
    """Alive (not a zombie) and running Prefect's server app: a recycled pid is never taken for the server."""
    return _server_command_line(pid) is not None


def _server_command_line(pid: int) -> str | None:
    """The command line of `pid` if it is a live Prefect server process, else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":  # exited, not yet reaped
            return None
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return None
    except OSError:  # no /proc (macOS): ask ps
        listed = subprocess.run(["ps", "-o", "stat=,args=", "-p", str(pid)], capture_output=True, text=True)
        if listed.returncode != 0 or listed.stdout.lstrip().startswith("Z"):
            return None
        command = listed.stdout
    return command if _SERVER_MARK in command else None


def _prefect_command() -> list[str]:
    """The `prefect` script installed with this interpreter (a venv's bin/), else `python -m prefect.cli`."""
    script = Path(sys.executable).with_name("prefect")
    return [str(script)] if script.exists() else [sys.executable, "-m", "prefect.cli"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextmanager
def _locked(home: Path, announce: Callable[[str], None] | None) -> Iterator[None]:
    """One starter or stopper per home at a time, across processes; the lock goes with the process."""
    with open(home / LOCK_NAME, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if announce:
                announce("waiting for the local Prefect server another command is starting...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_record(home: Path) -> LocalServer | None:
    try:
        data = json.loads((home / RECORD_NAME).read_text())
        return LocalServer(url=str(data["url"]), pid=int(data["pid"]), home=home)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_record(server: LocalServer) -> None:
    """Written whole or not at all: a reader never sees half a record."""
    target = server.home / RECORD_NAME
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps({"url": server.url, "pid": server.pid}))
    os.replace(partial, target)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
