"""The warm runner process: Prefect and the flows imported once, narrations run for later `narrate` commands.

Started detached by a `narrate` command (`flows/warm_runner.py`) in that command's folder and environment,
and keyed by them, so it runs requests exactly as the command would have. It listens on a Unix socket at
once and imports Prefect at nice 10 in its main thread (nice is per thread on Linux), so warming up
yields to the command that started it; connections are served by threads created from the listening
thread, which kept nice 0. Each accepted request runs as `asyncio.run(narrate(request))` in a thread of
its own, so two commands at once are both served; a run's progress goes to its own client through a
context variable. Prefect's run logs still go to the API; the process prints nothing to any terminal
(its output goes to a log file next to its socket).

It exits after NARRATION_WARM_RUNNER_IDLE_SECONDS (900) without a request, when the local server it runs
against is gone or replaced, when the project's code changes, and on SIGTERM (`narrate server stop`),
cancelling whatever still runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import faulthandler
import fcntl
import json
import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flows import warm_runner
from flows.warm_runner import FOLDER, ProtocolError, receive, send
from flows.warm_runner_key import code_stamp

LOCK_WAIT_SECONDS = 5.0  # a runner of the same key that is exiting gives its lock back within this
CHECK_INTERVAL_SECONDS = 1.0
CODE_CHECK_INTERVAL_SECONDS = 10.0
HANDSHAKE_TIMEOUT_SECONDS = 10.0
CANCEL_GRACE_SECONDS = 5.0
WARM_NICENESS = 10

_sink: contextvars.ContextVar[Callable[[int, int, str], None] | None] = contextvars.ContextVar(
    "warm_runner_progress_sink", default=None
)


def _dispatch_progress(done: int, total: int, what: str) -> None:
    """The one progress listener of the process: hands each notification to the client of its own run."""
    sink = _sink.get()
    if sink is not None:
        sink(done, total, what)


class Runner:
    """The listening socket, the runs in progress and the reasons to exit."""

    def __init__(self, home: Path, key: str, listener: socket.socket) -> None:
        self.home = home
        self.key = key
        self.listener = listener
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.closing = False
        self.served = 0
        self.running = 0
        self.last_activity = time.monotonic()
        self.cancels: set[Callable[[], None]] = set()
        self.server = None  # the LocalServer the runs go to, once warm

    # ------------------------------------------------------------------ lifecycle

    def warm_up(self) -> None:
        """Import what a run needs and find the local server, at low priority; if that fails, refuse every request.

        It never starts a server: `narrate server stop` may have stopped it while this process was starting.
        """
        with contextlib.suppress(OSError):
            os.nice(WARM_NICENESS)
        try:
            os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
            from flows.cli import connect_prefect
            from flows.local_server import default_home, status
            from flows.narrate import narrate  # noqa: F401 - imported for its cost, now rather than per request
            from speech_audio import espeak
            from tasks.output import progress

            for name in ("prefect.flow_runs", "prefect.task_runs"):
                logging.getLogger(name).propagate = False
            url = connect_prefect(start_server=False)
            server = status(default_home())
            if server is None or server.url != url or default_home() != self.home:
                raise RuntimeError(f"the runs would go to {url}, not to the local server of {self.home}")
            self.server = server
            progress.add_listener(_dispatch_progress)
            espeak.voice_names()  # the local engine's voices, listed once
            self.ready.set()
        except Exception as error:  # noqa: BLE001 - a runner that cannot warm up refuses, clients run in-process
            print(f"warm runner: not serving: {error!r}", file=sys.stderr, flush=True)
            with self.lock:
                self.closing = True
            self.ready.set()

    def watch(self, idle_seconds: float) -> str:
        """Return why it is time to exit: stopped, idle, the server gone or replaced, or the code changed."""
        stamp, stamp_checked = code_stamp(), time.monotonic()
        while not self.stopping.wait(CHECK_INTERVAL_SECONDS):
            reason = None
            if self.closing:
                reason = "not serving"
            elif time.monotonic() - self.last_activity > idle_seconds:
                reason = "idle"
            elif not self._server_is_current():
                reason = "the local server is gone"
            elif time.monotonic() - stamp_checked > CODE_CHECK_INTERVAL_SECONDS:
                stamp_checked = time.monotonic()
                if code_stamp() != stamp:
                    reason = "the code changed"
            if reason and self._close_if_idle():
                print(f"warm runner: exiting ({reason})", file=sys.stderr, flush=True)
                return reason
        self._close_if_idle(force=True)
        return "stopped"

    def _server_is_current(self) -> bool:
        from flows.local_server import is_current

        return self.server is None or is_current(self.server)

    def _close_if_idle(self, force: bool = False) -> bool:
        """Stop taking requests if none runs (or if forced: then cancel those that do)."""
        with self.lock:
            if self.running and not force:
                return False
            self.closing = True
            cancels = list(self.cancels)
        for cancel in cancels:
            cancel()
        deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        while self.running and time.monotonic() < deadline:
            time.sleep(0.05)
        return True

    # ------------------------------------------------------------------ connections

    def accept_forever(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed: the runner is exiting
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as stream:
            try:
                if not warm_runner.peer_is_this_user(connection):
                    return
                connection.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
                message = receive(stream)
                if message.get("op") == "status":
                    send(connection, self._status())
                elif message.get("op") == "run":
                    connection.settimeout(None)
                    self.ready.wait()
                    self._offer_and_run(connection, stream, message)
            except (OSError, ProtocolError):
                return

    def _status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "key": self.key,
            "ready": self.ready.is_set() and not self.closing,
            "served": self.served,
            "running": self.running,
            "cwd": os.getcwd(),
        }

    def _offer_and_run(self, connection: socket.socket, stream, message: dict) -> None:
        with self.lock:
            refuse = self.closing or not self._server_is_current()
            if not refuse:
                self.running += 1  # counted from the offer on: the runner does not exit under a client
        if refuse:
            send(connection, {"event": "refused"})
            return
        try:
            send(connection, {"event": "offer", "pid": os.getpid(), "key": self.key})
            connection.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
            if receive(stream).get("op") != "go":
                return
            connection.settimeout(None)
            with self.lock:
                self.served += 1
            RunOfOne(self, connection, message).run()
        finally:
            with self.lock:
                self.running -= 1
                self.last_activity = time.monotonic()


class RunOfOne:
    """One accepted request: run it, relay its progress, report its outcome; cancel it if its client leaves."""

    def __init__(self, runner: Runner, connection: socket.socket, message: dict) -> None:
        self.runner = runner
        self.connection = connection
        self.message = message
        self.outbox: queue.Queue[dict | None] = queue.Queue()
        self.finished = threading.Event()
        self.gone = threading.Event()
        self.cancel: Callable[[], None] | None = None

    def run(self) -> None:
        writer = threading.Thread(target=self._write, daemon=True)
        watcher = threading.Thread(target=self._watch_client, daemon=True)
        writer.start()
        watcher.start()
        try:
            outcome = self._outcome()
            if outcome is not None:
                self.outbox.put(outcome)
        finally:
            self.finished.set()
            self.outbox.put(None)
            writer.join()
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            self._deliver_events()

    def _outcome(self) -> dict | None:
        from pydantic import ValidationError

        from flows.cli import _validation_message, precheck, summary_lines
        from flows.parameters import NarrationRequest
        from tasks.errors import NarrationInputError

        try:
            request = NarrationRequest.model_validate(self.message.get("request"))
            precheck(request)
            result = asyncio.run(self._narrate(request))
        except ValidationError as error:
            return {"event": "input_error", "message": _validation_message(error)}
        except NarrationInputError as error:
            return {"event": "input_error", "message": str(error)}
        except (asyncio.CancelledError, KeyboardInterrupt):
            return (
                None if self.gone.is_set() else {"event": "failed", "message": "cancelled: the warm runner is stopping"}
            )
        except Exception as error:  # noqa: BLE001 - the flow's failure, already logged by Prefect
            return {"event": "failed", "message": str(error)}
        if self.gone.is_set():
            return None
        return {"event": "done", "lines": summary_lines(request, result)}

    async def _narrate(self, request):
        from flows.narrate import narrate

        if self.message.get("progress"):
            _sink.set(self._progress)
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(narrate(request))

        def cancel() -> None:
            loop.call_soon_threadsafe(task.cancel)

        self.cancel = cancel
        with self.runner.lock:
            self.runner.cancels.add(cancel)
        try:
            if self.gone.is_set() or self.runner.stopping.is_set():
                task.cancel()
            return await task
        finally:
            with self.runner.lock:
                self.runner.cancels.discard(cancel)

    def _progress(self, done: int, total: int, what: str) -> None:
        self.outbox.put({"event": "progress", "done": done, "total": total, "what": what})

    def _write(self) -> None:
        """Send what the run has to say, in order; a client that cannot be written to is gone."""
        while (message := self.outbox.get()) is not None:
            if self.gone.is_set():
                continue
            try:
                send(self.connection, message)
            except OSError:
                self._client_left()

    def _watch_client(self) -> None:
        """The client sends nothing after `go`: the connection closing means Ctrl-C (or a crash) there."""
        with contextlib.suppress(OSError):
            while self.connection.recv(4096):
                pass
        if not self.finished.is_set():
            self._client_left()

    def _client_left(self) -> None:
        self.gone.set()
        if self.cancel is not None:
            self.cancel()

    @staticmethod
    def _deliver_events() -> None:
        from flows.cli import deliver_events

        with contextlib.suppress(Exception):
            deliver_events()


def _acquire(lock_path: Path, wait: float):
    """Hold `lock_path` (the one runner per key); None if another runner keeps it past `wait` seconds.

    A runner removes its lock file on the way out, so after locking, the file must still be the one opened.
    """
    deadline = time.monotonic() + wait
    while True:
        handle = open(lock_path, "a")  # noqa: SIM115 - held for the life of the process
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)
            continue
        try:
            if os.stat(lock_path).st_ino == os.fstat(handle.fileno()).st_ino:
                return handle
        except FileNotFoundError:
            pass
        handle.close()


def _listen(path: Path) -> socket.socket:
    """A socket only this user can connect to (mode 0600, in a 0700 folder)."""
    path.unlink(missing_ok=True)  # a dead runner's; this one holds the key's lock
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        with warm_runner.socket_address(path) as address:
            listener.bind(address)
    finally:
        os.umask(previous)
    path.chmod(0o600)
    listener.listen(64)
    return listener


def _write_record(folder: Path, key: str) -> None:
    record = folder / f"{key}.json"
    partial = record.with_suffix(f".{os.getpid()}.tmp")
    with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        handle.write(json.dumps({"pid": os.getpid(), "cwd": os.getcwd()}))
    os.replace(partial, record)


def _log_to(path: Path) -> None:
    """This runner's output (warnings, a failure to warm up) goes to a file of its own, never to a terminal;
    so does the stack of every thread if the process dies of SIGSEGV, SIGFPE, SIGABRT or SIGBUS (not of
    SIGKILL). A log left by an earlier runner of the key (it failed, or died) is kept as `<key>.previous.log`."""
    if path.exists() and path.stat().st_size:
        os.replace(path, path.with_suffix(".previous.log"))
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
        os.dup2(log, stream.fileno())
    os.close(log)
    faulthandler.enable(all_threads=True)


def _note_exit(folder: Path, key: str, runner: Runner, reason: str) -> None:
    """One line in the runners' exit log, so `narrate server status` can say why a runner went away."""
    warm_runner.append_exit(
        folder,
        f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} pid {os.getpid()} key {key[:12]}: "
        f"exited ({' '.join(reason.split())}) after serving {runner.served}",
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="narrate-warm-runner")
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--key", required=True)
    args = parser.parse_args(argv)
    folder = args.home / FOLDER
    lock = _acquire(folder / f"{args.key}.lock", LOCK_WAIT_SECONDS)
    if lock is None:
        return 0  # another runner of this key serves
    _log_to(folder / f"{args.key}.log")
    socket_path = folder / f"{args.key}.sock"
    listener = _listen(socket_path)
    _write_record(folder, args.key)
    runner = Runner(args.home, args.key, listener)
    signal.signal(signal.SIGTERM, lambda *_: runner.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: runner.stopping.set())
    # The listening thread is started before this thread lowers its priority, so it and the
    # connection threads it starts keep the priority of the command that started the runner.
    threading.Thread(target=runner.accept_forever, daemon=True).start()
    runner.warm_up()
    try:
        idle = float(os.environ.get(warm_runner.IDLE_VARIABLE, warm_runner.DEFAULT_IDLE_SECONDS))
    except ValueError:
        idle = warm_runner.DEFAULT_IDLE_SECONDS
    try:
        reason = runner.watch(idle)
    except BaseException as error:
        reason = f"failed: {error!r}"  # the traceback goes to the log, which is kept
        raise
    finally:
        _note_exit(folder, args.key, runner, reason)
        socket_path.unlink(missing_ok=True)
        if runner.server is not None and not reason.startswith("failed"):  # it served and ended well
            (folder / f"{args.key}.log").unlink(missing_ok=True)
        (folder / f"{args.key}.json").unlink(missing_ok=True)
        (folder / f"{args.key}.lock").unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the listening thread
        listener.close()
        lock.close()
    return 0
