"""`narrate` and its local Prefect server: started once, reused, found dead and replaced, stopped.

The fast tests use a stand-in server (a loopback HTTP server answering /api/health whose command line
carries Prefect's server mark) and never import Prefect; the slow ones start the real one in a
temporary home and kill whatever it left behind, even when an assertion fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from flows import local_server, warm_runner

ROOT = Path(__file__).resolve().parents[1]
NARRATE = [sys.executable, "-m", "flows.cli"]
SERVER_MARK = "prefect.server.api.server:create_app"


def narrate(*args: str, env: dict[str, str], timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([*NARRATE, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def alive(pid: int) -> bool:
    """Running, not a zombie (this machine's init does not always reap the server Prefect detaches)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def servers_of(home: Path) -> list[int]:
    """Pids of live Prefect server processes started with PREFECT_HOME=home (whatever the records say)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if SERVER_MARK.encode() in command and f"PREFECT_HOME={home}".encode() in environ and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def runners_of(home: Path) -> list[int]:
    """Pids of live warm runners of `home` (whatever their records say)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(warm_runner.MARK.encode() in part for part in command) and str(home).encode() in command:
            if alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --------------------------------------------------------------------------------------------- fast


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"PREFECT_HOME": "/srv/prefect"}, "/srv/prefect"),
        ({"PREFECT_HOME": "/srv/prefect", "XDG_DATA_HOME": "/data"}, "/srv/prefect"),
        ({"PREFECT_HOME": "", "XDG_DATA_HOME": "/data"}, "/data/narration-orchestrator/prefect"),
        ({"XDG_DATA_HOME": "/data"}, "/data/narration-orchestrator/prefect"),
        ({"XDG_DATA_HOME": ""}, "~/.local/share/narration-orchestrator/prefect"),
        ({}, "~/.local/share/narration-orchestrator/prefect"),
        ({"PREFECT_HOME": "~/p"}, "~/p"),
    ],
)
def test_where_the_server_lives(environ, expected):
    home = local_server.default_home(environ)
    assert home == Path(expected).expanduser()
    assert home != Path.home() / ".prefect"


PROBE = """
import contextlib, io, json, sys
from flows.cli import main
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as leaving:
            code = leaving.code
    loaded = sorted(name for name in sys.modules if name.split(".")[0] == "prefect")
    print(json.dumps({"argv": argv, "code": code, "out": out.getvalue() + err.getvalue(), "prefect": loaded}))
"""


def test_help_bad_input_and_status_import_no_prefect(tmp_path):
    """Answers that need no run never pay for Prefect's import (seconds): checked in sys.modules after each."""
    cases = [
        (["--help"], 0, "narrate server status"),
        (["server", "--help"], 0, "narrate server stop"),
        (["server", "status"], 1, "not running"),
        (["--text", ""], 2, "narrate: error: text: "),
        (["--text", "Hi.", "--format", "wma"], 2, "narrate: error: format: "),
        (["/no/such/document.txt"], 2, "narrate: error: source: /no/such/document.txt"),
        (["--text", "Hi.", "--name", "../escape"], 2, "narrate: error: name: '../escape'"),
        ([], 2, "narrate: error: give a document or --text"),
    ]
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("PREFECT_API_URL", None)
    argvs = [[*argv, "--out", str(tmp_path / "out")] if argv and argv[0] != "server" else argv for argv, *_ in cases]
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argvs)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert probe.returncode == 0, probe.stderr
    answers = [json.loads(line) for line in probe.stdout.splitlines()]
    assert len(answers) == len(cases)
    for answer, (_, code, says) in zip(answers, cases, strict=True):
        assert answer["prefect"] == [], answer["argv"]
        assert answer["code"] == code and says in answer["out"], answer
    assert not (tmp_path / "out" / ".chunks").exists()


@pytest.fixture
def stand_in_server(tmp_path):
    """A process that looks like Prefect's server to local_server: the mark in its argv, /api/health 200."""
    www = tmp_path / "www"
    (www / "api").mkdir(parents=True)
    (www / "api" / "health").write_text("true")
    port = free_port()
    serve = (
        "import functools, http.server, sys; "
        "handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1]); "
        "http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[3])), handler).serve_forever()"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", serve, str(www), SERVER_MARK, str(port), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield process, url
    process.kill()
    process.wait()


def write_record(home: Path, url: str, pid: int) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / local_server.RECORD_NAME).write_text(json.dumps({"url": url, "pid": pid}))


def test_status_and_ensure_use_a_healthy_recorded_server(tmp_path, stand_in_server):
    process, url = stand_in_server
    home = tmp_path / "prefect"
    write_record(home, url, process.pid)
    expected = local_server.LocalServer(url=url, pid=process.pid, home=home)
    assert local_server.status(home) == expected
    assert local_server.ensure(home, announce=pytest.fail) == expected  # nothing started, nothing announced

    env = {**os.environ, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    shown = narrate("server", "status", env=env, timeout=30)
    assert shown.returncode == 0, shown.stderr
    assert url in shown.stdout and str(process.pid) in shown.stdout and str(home) in shown.stdout

    stopped = narrate("server", "stop", env=env, timeout=60)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
    assert process.wait(timeout=10) == -signal.SIGTERM
    assert not (home / local_server.RECORD_NAME).exists()
    assert narrate("server", "status", env=env, timeout=30).stdout.startswith("not running")


def test_a_background_server_prefect_left_in_the_home_is_adopted(tmp_path, stand_in_server):
    """`prefect server start -b` run by hand in the same home: reused through its pid file, not started twice."""
    process, url = stand_in_server
    home = tmp_path / "prefect"
    home.mkdir()
    (home / local_server.PREFECT_PID_NAME).write_text(str(process.pid))
    assert local_server.status(home) is None  # no record of ours yet
    assert local_server.ensure(home, announce=pytest.fail) == local_server.LocalServer(url, process.pid, home)
    assert local_server.status(home) == local_server.LocalServer(url, process.pid, home)


@pytest.mark.parametrize("record", ["missing", "garbled", "dead pid", "live pid that is no server", "zombie"])
def test_status_refuses_records_that_name_no_live_server(tmp_path, stand_in_server, record):
    process, url = stand_in_server
    home = tmp_path / "prefect"
    home.mkdir()
    other = None
    if record == "garbled":
        (home / local_server.RECORD_NAME).write_text('{"url": ')
    elif record == "dead pid":
        finished = subprocess.Popen(["true"])
        finished.wait()  # reaped: the pid names nothing now
        write_record(home, url, finished.pid)
    elif record in ("live pid that is no server", "zombie"):
        argv = ["sleep", "60"] if record != "zombie" else [sys.executable, "-c", "pass", SERVER_MARK]
        other = subprocess.Popen(argv)
        if record == "zombie":  # exited with the mark in its argv, not yet reaped
            deadline = time.monotonic() + 10
            while alive(other.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        write_record(home, url, other.pid)  # the URL answers, the pid is not a server
    time.sleep(0.1)
    assert local_server.status(home) is None
    if other is not None:
        assert local_server.stop(home) is None
        if record != "zombie":
            assert other.poll() is None, "stop() must never signal a process that is not a Prefect server"
        other.kill()
        other.wait()
    assert process.poll() is None


# --------------------------------------------------------------------------------------------- slow


@pytest.fixture
def isolated(tmp_path):
    """Environment for `narrate` with no configured API and every home under tmp_path; kills the servers and
    warm runners it left."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_DATA_HOME=str(tmp_path / "xdg"),
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    (tmp_path / "home").mkdir()
    homes = [tmp_path / "prefect", tmp_path / "xdg" / "narration-orchestrator" / "prefect"]
    yield env
    for home in homes:
        for pid in runners_of(home) + servers_of(home):
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


def decodes(path: Path) -> float:
    with av.open(str(path)) as container:
        return sum(frame.samples for frame in container.decode(audio=0)) / container.streams.audio[0].rate


@pytest.mark.slow
def test_first_command_starts_the_server_later_ones_reuse_it(isolated, tmp_path):
    home = tmp_path / "prefect"
    out = tmp_path / "out"

    began = time.monotonic()
    first = narrate("--text", "Hello.", "--out", str(out), "--name", "one", env=isolated)
    first_seconds = time.monotonic() - began
    assert first.returncode == 0, first.stderr
    assert "starting a local Prefect server (first run only)..." in first.stderr
    assert "Traceback" not in first.stderr and "CancelledError" not in first.stderr, first.stderr
    assert decodes(out / "one.mp3") > 0.2
    server = local_server.status(home)
    assert server is not None and servers_of(home) == [server.pid]

    began = time.monotonic()
    second = narrate("--text", "Hello again.", "--out", str(out), "--name", "two", env=isolated)
    second_seconds = time.monotonic() - began
    assert second.returncode == 0, second.stderr
    assert second.stderr.strip() == "", second.stderr
    assert local_server.status(home) == server and servers_of(home) == [server.pid]
    assert second_seconds < first_seconds
    assert decodes(out / "two.mp3") > 0.2

    shown = narrate("server", "status", env=isolated, timeout=30)
    assert shown.returncode == 0
    assert server.url in shown.stdout and str(server.pid) in shown.stdout and str(home) in shown.stdout

    # A provider block that is not saved: one clean line, no traceback, nothing written.
    missing = narrate("--text", "Hi.", "--provider", "maas-ele/never-saved", "--out", str(out), env=isolated)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "narrate: error: provider: no block 'maas-ele/never-saved' is saved "
        "(Unable to find block document named never-saved for block type maas-ele)"
    ]

    # The server dies without a word: the next command starts a new one.
    os.killpg(os.getpgid(server.pid), signal.SIGKILL)
    third = narrate("--text", "Hello once more.", "--out", str(out), "--name", "three", env=isolated)
    assert third.returncode == 0, third.stderr
    assert "starting a local Prefect server" in third.stderr
    restarted = local_server.status(home)
    assert restarted is not None and restarted.pid != server.pid and servers_of(home) == [restarted.pid]

    stopped = narrate("server", "stop", env=isolated, timeout=120)
    assert stopped.returncode == 0 and str(restarted.pid) in stopped.stdout, stopped.stderr
    assert not alive(restarted.pid) and servers_of(home) == [] and runners_of(home) == []
    assert not (home / local_server.RECORD_NAME).exists() and not (home / local_server.PREFECT_PID_NAME).exists()
    shown = narrate("server", "status", env=isolated, timeout=30)
    assert shown.returncode == 1 and shown.stdout.startswith("not running")


@pytest.mark.slow
def test_two_first_commands_at_once_start_one_server(isolated, tmp_path):
    """Without PREFECT_HOME the server lives in the XDG data folder, never in ~/.prefect."""
    env = {key: value for key, value in isolated.items() if key != "PREFECT_HOME"}
    home = tmp_path / "xdg" / "narration-orchestrator" / "prefect"
    commands = [
        subprocess.Popen(
            [*NARRATE, "--text", f"Hello {n}.", "--out", str(tmp_path / "out"), "--name", f"n{n}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    outputs = [command.communicate(timeout=400) for command in commands]
    for command, (_, stderr) in zip(commands, outputs, strict=True):
        assert command.returncode == 0, stderr
        assert "Traceback" not in stderr
    assert sum("starting a local Prefect server" in stderr for _, stderr in outputs) == 1
    server = local_server.status(home)
    assert server is not None and servers_of(home) == [server.pid]
    assert all(decodes(tmp_path / "out" / f"n{n}.mp3") > 0.2 for n in (1, 2))
    assert not (tmp_path / "home" / ".prefect").exists()

    assert narrate("server", "stop", env=env, timeout=120).returncode == 0
    assert servers_of(home) == [] and runners_of(home) == []


RUNNER_LINE = re.compile(
    r"^runner:  pid (?P<pid>\d+), (?P<state>ready|warming up), (?P<served>\d+) runs served, "
    r"(?P<running>\d+) running, folder (?P<cwd>.+)$",
    re.MULTILINE,
)


def runners_shown(env: dict[str, str]) -> list[dict]:
    """`narrate server status`'s runner lines."""
    shown = narrate("server", "status", env=env, timeout=60).stdout
    return [match.groupdict() for match in RUNNER_LINE.finditer(shown)]


def runner_shown(env: dict[str, str], pid: str) -> dict:
    shown = [runner for runner in runners_shown(env) if runner["pid"] == pid]
    if not shown:  # gone: say why, from the runners' folder (its exit log, a log left by a crash)
        folder = Path(env["PREFECT_HOME"]) / "runners"
        logs = {}
        for path in folder.glob("*.log") if folder.is_dir() else []:
            with contextlib.suppress(FileNotFoundError):  # a runner's own log goes when it ends well
                logs[path.name] = path.read_text()[-3000:]
        raise AssertionError(f"runner {pid} is not running; its folder's logs: {logs}")
    return shown[0]


def wait_for(condition, seconds: float = 180.0, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def ready_runner(env: dict[str, str], cwd: Path) -> dict:
    """A ready runner working in `cwd`."""

    def found():
        ready = [r for r in runners_shown(env) if r["cwd"] == str(cwd) and r["state"] == "ready"]
        return ready[0] if ready else None

    return wait_for(found, what=f"a ready runner in {cwd}")


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_later_commands_go_through_a_warm_runner_keyed_by_folder_and_environment(isolated, tmp_path):
    """The first command starts a runner; the next ones are its runs (served counts), import no Prefect,
    may run two at once, are cancelled with Ctrl-C; another environment or folder gets a runner of its own;
    `server stop` leaves no runner behind."""
    home = tmp_path / "prefect"
    out = tmp_path / "out"
    first = narrate("--text", "Hello.", "--quiet", "--out", str(out), "--name", "first", env=isolated)
    assert first.returncode == 0, first.stderr
    runner = ready_runner(isolated, ROOT)
    pid = runner["pid"]
    assert runner["served"] == "0" and runners_of(home) == [int(pid)]

    # The second command: run by the runner, and Prefect never imported by the command itself.
    argvs = [
        ["--text", "Hello again.", "--quiet", "--out", str(out), "--name", "second"],
        ["--text", "Hi.", "--voice", "klingon", "--out", str(out)],
        ["--text", "Hi there.", "--dry-run", "--out", str(out)],
    ]
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argvs)],
        cwd=ROOT,
        env=isolated,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr
    second, klingon, dry = (json.loads(line) for line in probe.stdout.splitlines())
    assert [second["prefect"], klingon["prefect"], dry["prefect"]] == [[], [], []]
    assert second["code"] == 0 and f"file://{out}/second.mp3" in second["out"], second
    assert decodes(out / "second.mp3") > 0.2
    assert klingon["code"] == 2 and "narrate: error: voice: the local engine has no voice 'klingon'" in klingon["out"]
    assert dry["code"] == 0 and "nothing was paid: this was a dry run" in dry["out"]
    assert runner_shown(isolated, pid)["served"] == "3"

    # Two at once: both served, both written.
    both = [
        subprocess.Popen(
            [*NARRATE, "--text", f"At once, number {n}.", "--quiet", "--out", str(out), "--name", f"once{n}"],
            cwd=ROOT,
            env=isolated,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    for command in both:
        _, stderr = command.communicate(timeout=300)
        assert command.returncode == 0 and stderr == "", stderr
    assert decodes(out / "once1.mp3") > 0.2 and decodes(out / "once2.mp3") > 0.2
    assert runner_shown(isolated, pid)["served"] == "5"

    # Ctrl-C in the command: the connection closes and the runner cancels the run.
    long = tmp_path / "long.txt"
    long.write_text(
        "\n\n".join(f"Paragraph {i} takes a little while to speak aloud, word by word." for i in range(400))
    )
    interrupted = subprocess.Popen(
        [*NARRATE, str(long), "--quiet", "--out", str(tmp_path / "cancelled")],
        cwd=ROOT,
        env=isolated,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As at a terminal: a suite started in the background (`make test &`) passes SIGINT down ignored,
        # and Python then leaves it ignored, so Ctrl-C would never reach the command.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_for(lambda: runner_shown(isolated, pid)["running"] == "1", 120, "the long run to start")
        interrupted.send_signal(signal.SIGINT)
        _, stderr = interrupted.communicate(timeout=180)  # on a loaded CI machine it once took over 60 s to exit
    except (AssertionError, subprocess.TimeoutExpired) as error:
        # A command left running would outlive the fixture (and start a server of its own); what it said helps.
        code = interrupted.poll()  # None: still running, killed here
        interrupted.kill()
        said = interrupted.communicate()
        raise AssertionError(f"{error}; the long command's exit code: {code}; it said {said}") from error
    finally:
        if interrupted.poll() is None:
            interrupted.kill()
            interrupted.communicate()
    assert interrupted.returncode == 130 and stderr.strip() == "narrate: interrupted", stderr
    wait_for(lambda: runner_shown(isolated, pid)["running"] == "0", 60, "the run to be cancelled")
    assert not (tmp_path / "cancelled" / "long.mp3").exists()

    # Another environment: not this runner's to serve; the command runs itself and starts a runner of its own.
    other_env = {**isolated, "NARRATION_MAX_SOURCE_CHARACTERS": "100000"}
    other = narrate("--text", "Other settings.", "--quiet", "--out", str(out), "--name", "other", env=other_env)
    assert other.returncode == 0, other.stderr
    assert runner_shown(isolated, pid)["served"] == "6"  # 5, and the cancelled one
    wait_for(lambda: len(runners_of(home)) == 2, what="a second runner")

    # Another folder: relative paths are the folder's own, and so is its runner.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    moved = subprocess.run(
        [*NARRATE, "--text", "Somewhere else.", "--quiet", "--out", "here", "--name", "moved"],
        cwd=elsewhere,
        env=isolated,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert moved.returncode == 0, moved.stderr
    assert decodes(elsewhere / "here" / "moved.mp3") > 0.2
    assert runner_shown(isolated, pid)["served"] == "6"
    moved_pid = ready_runner(isolated, elsewhere)["pid"]
    again = subprocess.run(
        [*NARRATE, "--text", "Somewhere else again.", "--quiet", "--out", "here", "--name", "again"],
        cwd=elsewhere,
        env=isolated,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert decodes(elsewhere / "here" / "again.mp3") > 0.2
    assert runner_shown(isolated, moved_pid)["served"] == "1"

    # Turned off: the command runs itself and starts no runner.
    off_env = {**isolated, "NARRATION_WARM_RUNNER": "0"}
    before = set(runners_of(home))
    off = narrate("--text", "No runner.", "--quiet", "--out", str(out), "--name", "off", env=off_env)
    assert off.returncode == 0, off.stderr
    time.sleep(2)
    assert set(runners_of(home)) == before and len(before) == 3

    stopped = narrate("server", "stop", env=isolated, timeout=180)
    assert stopped.returncode == 0, stopped.stderr
    assert sorted(int(pid) for pid in re.findall(r"stopped warm runner: pid (\d+)", stopped.stdout)) == sorted(before)
    assert runners_of(home) == [] and servers_of(home) == []
    assert runner_files(home) == ["exits.log"] and exit_reasons(home) == ["stopped"] * 3


# --------------------------------------------------------------------------------------------- runner lifecycle
# A real runner process against the stand-in server: it imports Prefect (seconds), needs no real server.


@pytest.fixture
def runner_env(tmp_path, stand_in_server):
    """A home whose recorded server is the stand-in, and the environment of a command using it."""
    process, url = stand_in_server
    home = tmp_path / "prefect"
    write_record(home, url, process.pid)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), HOME=str(tmp_path), PREFECT_LOGGING_LEVEL="WARNING")
    yield home, env
    for pid in runners_of(home):
        os.killpg(os.getpgid(pid), signal.SIGKILL)


def start_runner(home: Path, env: dict[str, str], cwd: Path) -> warm_runner.Target:
    target = warm_runner.target_for(home, env, str(cwd))
    assert target is not None
    warm_runner.start(target)
    return target


def ready_runners(home: Path) -> list[warm_runner.RunnerInfo]:
    return wait_for(lambda: [r for r in warm_runner.runners(home) if r.ready], what="a ready runner")


def runner_files(home: Path) -> list[str]:
    return sorted(path.name for path in (home / "runners").iterdir())


def exit_reasons(home: Path) -> list[str]:
    """Why each runner of `home` exited, from the runners' exit log."""
    return re.findall(r": exited \((.+)\) after serving \d+$", (home / "runners" / "exits.log").read_text(), re.M)


@pytest.mark.slow
def test_a_runner_exits_when_idle_and_leaves_no_files(runner_env, tmp_path):
    home, env = runner_env
    target = start_runner(home, {**env, warm_runner.IDLE_VARIABLE: "3"}, tmp_path)
    (runner,) = ready_runners(home)
    assert runner.cwd == str(tmp_path) and runner.served == 0 and runners_of(home) == [runner.pid]
    assert (target.socket_path.stat().st_mode & 0o777) == 0o600 and (home / "runners").stat().st_mode & 0o777 == 0o700
    wait_for(lambda: not alive(runner.pid), 60, "the idle runner to exit")
    assert runner_files(home) == ["exits.log"] and exit_reasons(home) == ["idle"]


@pytest.mark.slow
def test_a_runner_exits_when_its_server_is_gone(runner_env, stand_in_server, tmp_path):
    home, env = runner_env
    start_runner(home, env, tmp_path)
    (runner,) = ready_runners(home)
    process, _ = stand_in_server
    process.kill()
    process.wait()
    wait_for(lambda: not alive(runner.pid), 60, "the runner to notice")
    assert runner_files(home) == ["exits.log"] and exit_reasons(home) == ["the local server is gone"]
    shown = narrate("server", "status", env=env, timeout=60).stdout
    assert re.search(rf"^last runner exit: .* pid {runner.pid} .*exited \(the local server is gone\)", shown, re.M)


@pytest.mark.slow
def test_server_status_lists_runners_and_server_stop_stops_them(runner_env, tmp_path):
    home, env = runner_env
    start_runner(home, env, tmp_path)
    start_runner(home, env, tmp_path)  # the same key: the second gives way to the first
    (runner,) = ready_runners(home)
    wait_for(lambda: runners_of(home) == [runner.pid], 30, "the second runner to give way")
    shown = narrate("server", "status", env=env, timeout=60)
    assert f"runner:  pid {runner.pid}, ready, 0 runs served, 0 running, folder {tmp_path}" in shown.stdout
    stopped = narrate("server", "stop", env=env, timeout=120)
    assert stopped.returncode == 0 and f"stopped warm runner: pid {runner.pid}" in stopped.stdout, stopped.stderr
    assert runners_of(home) == [] and runner_files(home) == ["exits.log"] and exit_reasons(home) == ["stopped"]


@pytest.mark.slow
def test_a_runner_with_no_server_to_use_refuses_and_says_why(tmp_path):
    """It never starts a server itself (a `server stop` may just have stopped it): it exits, its log says why."""
    home = tmp_path / "prefect"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), HOME=str(tmp_path))
    target = start_runner(home, env, tmp_path)
    try:
        log = home / "runners" / f"{target.key}.log"
        wait_for(lambda: log.exists() and "warm runner: not serving" in log.read_text(), 180, "the runner to give up")
        wait_for(lambda: runners_of(home) == [], 60, "the runner to exit")
        assert set(runner_files(home)) == {"exits.log", f"{target.key}.log"} and exit_reasons(home) == ["not serving"]
        assert servers_of(home) == []
    finally:
        for pid in runners_of(home):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
