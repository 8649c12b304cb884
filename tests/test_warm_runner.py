"""The warm runner's client side, its key, and its exchange: no Prefect, no server (the slow end-to-end test
with real runners is in test_cli_server.py).

The exchange is played against a stand-in runner on a real Unix socket: what matters is that a command
falls back to running the request itself only when the runner did not take it, and never after `go`.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from pathlib import Path

import pytest

from flows import warm_runner
from flows.warm_runner import NotServed, Outcome, Target
from flows.warm_runner_key import api_url_configured, fingerprint, local_server_is_used

KEY = "0123456789abcdef0123"


# --------------------------------------------------------------------------------------------- the key


@pytest.fixture
def folder(tmp_path) -> Path:
    """An empty working folder (the Prefect home of `base_env` has no profiles file)."""
    work = tmp_path / "work"
    work.mkdir()
    return work


def base_env(tmp_path: Path, **more: str) -> dict[str, str]:
    return {"HOME": str(tmp_path), "PREFECT_HOME": str(tmp_path / "prefect"), **more}


def test_no_api_url_anywhere_means_the_local_server(tmp_path, folder):
    env = base_env(tmp_path)
    assert api_url_configured(env, str(folder)) is False
    assert local_server_is_used(env, str(folder))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PREFECT_API_URL": "http://elsewhere:4200/api"}, True),
        ({"prefect_api_url": "http://elsewhere:4200/api"}, True),  # Prefect reads names case-insensitively
        ({"PREFECT_API_URL": ""}, None),
        ({"PREFECT_TEST_MODE": "1"}, None),
        ({"PREFECT_HOME": ""}, None),  # no profiles file to read: Prefect's own default path is not guessed
    ],
)
def test_the_environment_decides_or_makes_it_unsure(tmp_path, folder, env, expected):
    assert api_url_configured(base_env(tmp_path, **env), str(folder)) is expected


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (".env", "NARRATION_MAX_SOURCE_BYTES=1000\n", False),
        (".env", "export PREFECT_API_URL=http://x/api\n", None),
        (".env", "PREFECT_PROFILES_PATH=/elsewhere.toml\n", None),
        ("prefect.toml", '[api]\nurl = "http://x/api"\n', None),
        ("prefect.toml", '[logging]\nlevel = "INFO"\n', False),
        ("prefect.toml", "not toml [", None),
        ("pyproject.toml", '[tool.prefect.api]\nurl = "http://x/api"\n', None),
        ("pyproject.toml", '[project]\nname = "x"\n', False),
    ],
)
def test_files_in_the_working_folder(tmp_path, folder, name, content, expected):
    (folder / name).write_text(content)
    assert api_url_configured(base_env(tmp_path), str(folder)) is expected


@pytest.mark.parametrize(
    ("profiles", "env", "expected"),
    [
        ('active = "remote"\n[profiles.remote]\nPREFECT_API_URL = "http://x/api"\n', {}, True),
        (
            'active = "remote"\n[profiles.remote]\nPREFECT_API_URL = "http://x/api"\n[profiles.mine]\n',
            {"PREFECT_PROFILE": "mine"},
            False,
        ),
        ('active = "plain"\n[profiles.plain]\nPREFECT_LOGGING_LEVEL = "INFO"\n', {}, False),
        ('active = "gone"\n[profiles.remote]\nPREFECT_API_URL = "http://x/api"\n', {}, False),  # bundled default
        ("active = [", {}, None),
    ],
)
def test_the_active_profile(tmp_path, folder, profiles, env, expected):
    path = tmp_path / "profiles.toml"
    path.write_text(profiles)
    environ = base_env(tmp_path, PREFECT_PROFILES_PATH=str(path), **env)
    assert api_url_configured(environ, str(folder)) is expected


def test_the_key_changes_with_what_a_run_depends_on(tmp_path, folder):
    env = base_env(tmp_path, NARRATION_ALLOWED_ROOTS="/srv")
    key = fingerprint(env, str(folder))
    assert len(key) == 20 and "srv" not in key
    assert fingerprint(env, str(folder)) == key
    assert fingerprint({**env, "OLDPWD": "/x", "_": "/usr/bin/env", "SHLVL": "3"}, str(folder)) == key
    make = {"MAKEFLAGS": "", "MFLAGS": "", "MAKELEVEL": "1", "MAKE_TERMOUT": "/dev/pts/0", "MAKE_TERMERR": "/dev/pts/0"}
    assert fingerprint({**env, **make}, str(folder)) == key  # a runner `make demo` started serves what follows
    assert fingerprint({**env, "NARRATION_ALLOWED_ROOTS": "/data"}, str(folder)) != key
    assert fingerprint({**env, "AWS_PROFILE": "other"}, str(folder)) != key
    assert fingerprint(env, str(tmp_path)) != key
    (folder / ".env").write_text("NARRATION_MAX_SOURCE_BYTES=1000\n")
    assert fingerprint(env, str(folder)) != key


def test_turned_off_or_not_the_local_server_means_no_target(tmp_path, folder):
    home = tmp_path / "prefect"
    assert warm_runner.target_for(home, base_env(tmp_path), str(folder)).key == fingerprint(
        base_env(tmp_path), str(folder)
    )
    assert warm_runner.target_for(home, base_env(tmp_path, NARRATION_WARM_RUNNER="0"), str(folder)) is None
    assert warm_runner.target_for(home, base_env(tmp_path, PREFECT_API_URL="http://x/api"), str(folder)) is None


# --------------------------------------------------------------------------------------------- the exchange


class StandIn:
    """A runner that plays one scripted answer on a real socket and records what the client sent."""

    def __init__(self, path: Path, script) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with warm_runner.socket_address(path) as address:
            self.listener.bind(address)
        self.listener.listen(4)
        self.script = script
        self.received: list[dict] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection, connection.makefile("rb") as stream:

            def read() -> dict | None:
                try:
                    message = warm_runner.receive(stream)
                except warm_runner.ProtocolError:
                    return None
                self.received.append(message)
                return message

            self.script(connection, read)

    def close(self) -> None:
        self.thread.join(10)
        self.listener.close()


@pytest.fixture
def target(tmp_path) -> Target:
    return Target(home=tmp_path / "prefect", key=KEY, environ={}, cwd=str(tmp_path))


def offer(connection: socket.socket, key: str = KEY) -> None:
    warm_runner.send(connection, {"event": "offer", "pid": 4242, "key": key})


def play(target: Target, script, on_progress=None):
    stand_in = StandIn(target.socket_path, script)
    try:
        return warm_runner.run(target, {"text": "Hello."}, on_progress), stand_in.received
    finally:
        stand_in.close()


def test_no_runner_there_means_run_it_here_and_start_one(target):
    assert warm_runner.run(target, {"text": "Hello."}, None) == NotServed(start_one=True)


def test_a_runner_that_closes_before_offering_ran_nothing(target):
    outcome, received = play(target, lambda connection, read: read())
    assert outcome == NotServed(start_one=False)
    assert [message["op"] for message in received] == ["run"]


def test_a_refusing_runner_is_replaced(target):
    outcome, _ = play(target, lambda connection, read: (read(), warm_runner.send(connection, {"event": "refused"})))
    assert outcome == NotServed(start_one=True)


def test_an_offer_under_another_key_is_not_taken(target):
    def script(connection, read):
        read()
        offer(connection, key="f" * 20)
        assert read() is None  # no `go`: the connection just closes

    outcome, received = play(target, script)
    assert isinstance(outcome, NotServed)
    assert [message["op"] for message in received] == ["run"]


def test_after_go_a_broken_connection_is_a_failure_never_a_second_run(target):
    def script(connection, read):
        read()
        offer(connection)
        read()  # go: then the runner dies

    outcome, received = play(target, script)
    assert outcome == Outcome(1, [], ["narrate: failed: the warm runner (pid 4242) stopped during the run"])
    assert [message["op"] for message in received] == ["run", "go"]
    assert received[0]["request"] == {"text": "Hello."} and received[0]["progress"] is False


def test_progress_and_the_outcome_are_relayed(target):
    seen = []

    def script(connection, read):
        read()
        offer(connection)
        read()
        for done in (1, 2):
            warm_runner.send(connection, {"event": "progress", "done": done, "total": 2, "what": "chunks"})
        warm_runner.send(connection, {"event": "done", "lines": ["audio: x.mp3", "manifest: x.manifest.json"]})

    outcome, received = play(target, script, on_progress=lambda *args: seen.append(args))
    assert outcome == Outcome(0, ["audio: x.mp3", "manifest: x.manifest.json"], [])
    assert seen == [(1, 2, "chunks"), (2, 2, "chunks")] and received[0]["progress"] is True


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"event": "input_error", "message": "voice: no such voice"},
            Outcome(2, [], ["narrate: error: voice: no such voice"]),
        ),
        (
            {"event": "failed", "message": "the provider said no"},
            Outcome(1, [], ["narrate: failed: the provider said no"]),
        ),
    ],
)
def test_errors_keep_their_exit_codes(target, answer, expected):
    def script(connection, read):
        read()
        offer(connection)
        read()
        warm_runner.send(connection, answer)

    assert play(target, script)[0] == expected


def test_a_long_home_path_still_gets_a_socket(tmp_path):
    """sun_path holds 108 bytes; a deep PREFECT_HOME goes through /proc/self/fd."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    target = Target(home=deep, key=KEY, environ={}, cwd=str(tmp_path))
    assert len(str(target.socket_path)) > 108

    def script(connection, read):
        read()
        offer(connection)
        read()
        warm_runner.send(connection, {"event": "done", "lines": ["ok"]})

    assert play(target, script)[0] == Outcome(0, ["ok"], [])


def test_status_and_stop_find_no_runner_in_an_empty_home(tmp_path):
    assert warm_runner.runners(tmp_path) == [] and warm_runner.stop_all(tmp_path) == []
    (tmp_path / "runners").mkdir()
    (tmp_path / "runners" / f"{KEY}.json").write_text(json.dumps({"pid": os.getpid()}))  # not a runner's pid
    assert warm_runner.runners(tmp_path) == [] and warm_runner.stop_all(tmp_path) == []
    assert not (tmp_path / "runners" / f"{KEY}.json").exists()


# --------------------------------------------------------------------------------------------- shared TLS contexts


def test_verified_contexts_are_shared_per_ca_file_and_rebuilt_when_it_changes(tmp_path):
    import ssl

    import certifi

    from flows.shared_tls import SharedVerifiedContexts

    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes())
    shim = SharedVerifiedContexts()
    first = shim.create_default_context(cafile=str(bundle))
    assert shim.create_default_context(cafile=str(bundle)) is first
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    os.utime(bundle, ns=(0, 0))
    assert shim.create_default_context(cafile=str(bundle)) is not first
    # Without a CA file Prefect goes on to change the context (its skip-verify branch): never shared.
    assert shim.create_default_context() is not shim.create_default_context()
    assert shim.SSLContext is ssl.SSLContext and shim.CERT_NONE == ssl.CERT_NONE
    with pytest.raises(FileNotFoundError):
        shim.create_default_context(cafile=str(tmp_path / "missing.pem"))


def test_the_exit_log_keeps_whole_lines_newest_last_and_stays_small(tmp_path):
    assert warm_runner.last_exit(tmp_path) is None
    (tmp_path / warm_runner.FOLDER).mkdir()
    folder = tmp_path / warm_runner.FOLDER
    for number in range(1000):
        warm_runner.append_exit(folder, f"runner {number}: exited (idle) after serving {number % 7}\n")
    lines = (folder / warm_runner.EXITS_NAME).read_text().splitlines()
    assert (folder / warm_runner.EXITS_NAME).stat().st_size <= warm_runner.EXITS_KEPT_BYTES + 100
    assert all(re.fullmatch(r"runner (\d+): exited \(idle\) after serving \d", line) for line in lines)
    numbers = [int(line.split()[1].rstrip(":")) for line in lines]
    assert numbers == list(range(numbers[0], 1000)) and numbers[0] > 500  # consecutive, the newest kept
    assert warm_runner.last_exit(tmp_path) == "runner 999: exited (idle) after serving 5"
