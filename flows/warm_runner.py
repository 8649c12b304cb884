"""The client side of the warm runner: ask a process that has Prefect imported already to run the narration.

Importing Prefect and the flows costs a `narrate` command about 2.5 s of its 5; a runner
(`flows/warm_runner_server.py`) pays that once and then serves later commands over a Unix socket in
the local server's home (`runners/`, mode 0700; sockets 0600), so only this user reaches it. This module
imports no Prefect: it finds the runner of the command's key (`flows/warm_runner_key.py`), sends the
request, relays progress and returns what to print and the exit code.

The exchange, one JSON object a line: the client sends `{"op": "run", "request": …, "progress": bool}`;
the runner answers `offer` (or `refused`); the client answers `go`, and only then does the runner run it,
streaming `progress` and ending with `done` (lines to print), `input_error` or `failed`. A client that
gave up waiting for the offer has sent no `go`, so it may run the request itself: nothing runs twice.
Once `go` is sent the client never falls back; a closed connection tells the runner to cancel the run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from flows.warm_runner_key import ROOT, fingerprint, local_server_is_used

SWITCH = "NARRATION_WARM_RUNNER"  # "0" turns the warm runner off
IDLE_VARIABLE = "NARRATION_WARM_RUNNER_IDLE_SECONDS"
DEFAULT_IDLE_SECONDS = 900.0
MARK = "flows.warm_runner_server"  # in a runner's command line
FOLDER = "runners"
OFFER_TIMEOUT_SECONDS = 30.0  # a runner still importing Prefect (nice 10) answers once it is ready
STOP_TIMEOUT_SECONDS = 15.0
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
SOCKET_PATH_LIMIT = 100  # sun_path holds 108 bytes; longer paths go through /proc/self/fd
EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
EXITS_NAME = "exits.log"  # one line per runner that exited, and why
EXITS_KEPT_BYTES = 16 * 1024  # the log is cut to its newer half of lines past this size

Progress = Callable[[int, int, str], None]


class ProtocolError(RuntimeError):
    """The other side closed the connection or sent something that is not a message."""


@dataclass(frozen=True)
class Target:
    """The runner a command may use: where its files are, its key, and the environment and folder to start one in."""

    home: Path
    key: str
    environ: dict[str, str]
    cwd: str

    @property
    def folder(self) -> Path:
        return self.home / FOLDER

    @property
    def socket_path(self) -> Path:
        return self.folder / f"{self.key}.sock"


@dataclass(frozen=True)
class Outcome:
    """What the command prints and returns once the runner has answered."""

    code: int
    stdout: list[str]
    stderr: list[str]


@dataclass(frozen=True)
class NotServed:
    """The runner did not take the request, so the command runs it itself; `start_one`: no runner is there."""

    start_one: bool


@dataclass(frozen=True)
class RunnerInfo:
    """A runner as `narrate server status` shows it."""

    pid: int
    key: str
    ready: bool
    served: int
    running: int
    cwd: str


# --------------------------------------------------------------------------------------------- protocol


def send(sock: socket.socket, message: dict) -> None:
    sock.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")


def receive(stream) -> dict:
    """The next message from `stream` (a socket's binary makefile); ProtocolError at EOF or on garbage."""
    line = stream.readline(MAX_MESSAGE_BYTES + 1)
    if not line.endswith(b"\n"):
        raise ProtocolError("connection closed")
    try:
        message = json.loads(line)
    except ValueError as error:
        raise ProtocolError(f"not a message: {error}") from None
    if not isinstance(message, dict):
        raise ProtocolError("not a message")
    return message


def peer_is_this_user(sock: socket.socket) -> bool:
    """The process at the other end runs as this user (SO_PEERCRED); True where the OS cannot tell."""
    if not hasattr(socket, "SO_PEERCRED"):
        return True
    credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", credentials)[1] == os.getuid()


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """A name for `path` that fits in sun_path: the path itself, or its folder's /proc/self/fd entry."""
    if len(os.fsencode(path)) <= SOCKET_PATH_LIMIT:
        yield str(path)
        return
    if not Path("/proc/self/fd").is_dir():
        raise OSError(f"socket path too long: {path}")
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


def connect(path: Path, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        with socket_address(path) as address:
            sock.connect(address)
        if not peer_is_this_user(sock):
            raise ConnectionRefusedError(f"{path} is served by another user")
    except BaseException:
        sock.close()
        raise
    return sock


# --------------------------------------------------------------------------------------------- client


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def target_for(home: Path, environ: Mapping[str, str] = os.environ, cwd: str | None = None) -> Target | None:
    """The runner this command may use, or None: turned off, or not surely the local server's run."""
    cwd = cwd or os.getcwd()
    if not enabled(environ) or not local_server_is_used(environ, cwd):
        return None
    return Target(home=home, key=fingerprint(environ, cwd), environ=dict(environ), cwd=cwd)


def run(target: Target, request: dict, on_progress: Progress | None) -> Outcome | NotServed:
    """Have the target's runner run `request` (a NarrationRequest as JSON data); NotServed if it did not take it."""
    try:
        sock = connect(target.socket_path, timeout=2.0)
    except OSError:
        return NotServed(start_one=True)  # no socket, or nobody listening on it: a runner died or never started
    with sock, sock.makefile("rb") as stream:
        try:
            sock.settimeout(OFFER_TIMEOUT_SECONDS)
            send(sock, {"op": "run", "request": request, "progress": on_progress is not None})
            offer = receive(stream)
            if offer.get("event") != "offer" or offer.get("key") != target.key:
                return NotServed(start_one=offer.get("event") == "refused")
            send(sock, {"op": "go"})
        except (OSError, ProtocolError):
            return NotServed(start_one=False)  # not accepted: nothing ran there
        sock.settimeout(None)  # a run takes as long as it takes; a dead runner closes the connection
        return _follow(stream, int(offer.get("pid", 0)), on_progress)


def _follow(stream, pid: int, on_progress: Progress | None) -> Outcome:
    """Relay progress until the outcome; a broken connection after `go` is a failure, never a second run."""
    while True:
        try:
            message = receive(stream)
        except (OSError, ProtocolError):
            return Outcome(EXIT_FAILED, [], [f"narrate: failed: the warm runner (pid {pid}) stopped during the run"])
        event = message.get("event")
        if event == "progress":
            if on_progress is not None:
                on_progress(int(message["done"]), int(message["total"]), str(message["what"]))
        elif event == "done":
            return Outcome(0, list(message.get("lines", [])), [])
        elif event == "input_error":
            return Outcome(EXIT_BAD_INPUT, [], [f"narrate: error: {message.get('message', '')}"])
        else:
            return Outcome(EXIT_FAILED, [], [f"narrate: failed: {message.get('message', 'the warm runner failed')}"])


def start(target: Target) -> None:
    """Start the target's runner in the background, detached and silent; it exits at once if one is running."""
    target.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    target.folder.chmod(0o700)
    boot = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from {MARK} import main; sys.exit(main(sys.argv[1:]))"
    subprocess.Popen(
        [sys.executable, "-P", "-c", boot, "--home", str(target.home), "--key", target.key],
        cwd=target.cwd,
        env=target.environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # until it has its key's lock and opens its log file
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C in the terminal and the terminal closing do not reach it
        close_fds=True,
    )


# --------------------------------------------------------------------------------------------- status and stop


def append_exit(folder: Path, line: str) -> None:
    """Append `line` to the runners' exit log of `folder`; past EXITS_KEPT_BYTES, keep only its newer half.

    Appends are single writes under an exclusive lock (readers take a shared one), so no reader sees
    half a line; the file is never replaced, so a writer waiting for the lock writes into the live file.
    """
    encoded = (line.rstrip("\n") + "\n").encode()
    with contextlib.suppress(OSError):
        descriptor = os.open(folder / EXITS_NAME, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with open(descriptor, "r+b", buffering=0) as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            log.write(encoded)
            if os.fstat(log.fileno()).st_size > EXITS_KEPT_BYTES:
                log.seek(0)
                lines = log.read().splitlines(keepends=True)
                log.seek(0)
                log.truncate()
                log.write(b"".join(lines[len(lines) // 2 :]))


def last_exit(home: Path) -> str | None:
    """The latest line of the runners' exit log of `home`, or None."""
    try:
        with open(home / FOLDER / EXITS_NAME, "rb") as log:
            fcntl.flock(log, fcntl.LOCK_SH)
            lines = log.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    return lines[-1] if lines else None


def _records(home: Path) -> list[tuple[str, int]]:
    """(key, pid) of every runner record in `home`."""
    found = []
    for path in sorted((home / FOLDER).glob("*.json")):
        try:
            found.append((path.stem, int(json.loads(path.read_text())["pid"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def is_runner_process(pid: int, key: str) -> bool:
    """Alive (not a zombie) and a runner of `key`: a recycled pid is never signalled."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask ps
        listed = subprocess.run(["ps", "-o", "stat=,args=", "-p", str(pid)], capture_output=True, text=True)
        return listed.returncode == 0 and not listed.stdout.lstrip().startswith("Z") and MARK in listed.stdout
    return any(MARK.encode() in part for part in command) and key.encode() in command


def runners(home: Path) -> list[RunnerInfo]:
    """The live runners of `home`, each as it describes itself (a runner still warming up says so)."""
    found = []
    for key, pid in _records(home):
        if not is_runner_process(pid, key):
            continue
        try:
            with connect(home / FOLDER / f"{key}.sock", timeout=2.0) as sock, sock.makefile("rb") as stream:
                send(sock, {"op": "status"})
                said = receive(stream)
        except (OSError, ProtocolError):
            said = {}
        found.append(
            RunnerInfo(
                pid=pid,
                key=key,
                ready=bool(said.get("ready")),
                served=int(said.get("served", 0)),
                running=int(said.get("running", 0)),
                cwd=str(said.get("cwd", "?")),
            )
        )
    return found


def stop_all(home: Path) -> list[int]:
    """Stop every runner of `home` (SIGTERM: it cancels its runs; SIGKILL if it lingers); their pids.

    Runners still starting are stopped too: a command returns as soon as it has started its runner, and
    the runner writes its record only once it has its key's lock, so a stop right after a first command
    would otherwise miss it (and leave it waiting for a server that is gone).
    """
    stopped = []
    for key, pid in _records(home):
        if is_runner_process(pid, key):
            _terminate(pid, key)
            stopped.append(pid)
        _remove_files(home / FOLDER, key)
    for pid, key in _starting_runners(home):
        if pid not in stopped:
            _terminate(pid, key)
            stopped.append(pid)
            _remove_files(home / FOLDER, key)
    return stopped


def _terminate(pid: int, key: str) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while is_runner_process(pid, key) and time.monotonic() < deadline:
        time.sleep(0.05)
    if is_runner_process(pid, key):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _starting_runners(home: Path) -> list[tuple[int, str]]:
    """(pid, key) of this user's runner processes of `home`, recorded or not (where /proc lists processes)."""
    found = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            command = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if not any(MARK in part for part in command) or "--home" not in command or "--key" not in command:
            continue
        after_home, after_key = command.index("--home") + 1, command.index("--key") + 1
        if after_home < len(command) and after_key < len(command) and command[after_home] == str(home):
            if is_runner_process(int(entry.name), command[after_key]):
                found.append((int(entry.name), command[after_key]))
    return found


def _remove_files(folder: Path, key: str) -> None:
    """A dead runner's socket and record; its lock file too, unless a new runner of the key holds it."""
    lock_path = folder / f"{key}.lock"
    try:
        handle = open(lock_path, "a")  # noqa: SIM115 - held across the removals below
    except OSError:
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # a runner of this key is alive (starting): its files are its own
        for suffix in (".sock", ".json"):
            (folder / f"{key}{suffix}").unlink(missing_ok=True)
        lock_path.unlink(missing_ok=True)
