"""The `narrate` console script, run as a user runs it: a subprocess, its output and exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.audio_probe import decoded_duration

ROOT = Path(__file__).resolve().parents[1]
NARRATE = [sys.executable, "-m", "flows.cli"]


def narrate(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*NARRATE, *args], cwd=ROOT, env=env or dict(os.environ), capture_output=True, text=True, timeout=timeout
    )


def test_narrates_chinese_text_and_says_where_the_audio_went(prefect_env, tmp_path):
    result = narrate("--text", "你好，世界。今天天气很好。", "--out", str(tmp_path), "--name", "hello", env=prefect_env)
    assert result.returncode == 0, result.stderr
    assert f"file://{tmp_path}/hello.mp3" in result.stdout
    manifest = json.loads((tmp_path / "hello.manifest.json").read_text())
    assert (
        abs(decoded_duration(manifest["audio"], "mp3", manifest["sample_rate"]) - manifest["duration_seconds"]) < 0.05
    )
    assert (tmp_path / "hello.srt").read_text().count("-->") == len(manifest["sentences"]) == 2  # a cue per sentence


def test_narrates_the_english_sample_with_options(prefect_env, tmp_path):
    result = narrate(
        "examples/sample.md",
        "--out",
        str(tmp_path),
        "--format",
        "flac",
        "--voice",
        "en-gb",
        "--speed",
        "1.2",
        env=prefect_env,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "sample.manifest.json").read_text())
    assert manifest["voice"] == "en-gb" and manifest["speed"] == 1.2 and manifest["format"] == "flac"
    assert decoded_duration(manifest["audio"], "flac", manifest["sample_rate"]) > 20


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--text", ""], "text: the text is empty"),
        (["--text", "   \n\t "], "text: the text is empty"),
        (
            ["--text", "Hi.", "--format", "wma"],
            "format: Input should be 'mp3', 'opus', 'aac', 'flac', 'wav', 'pcm' or 'm4b'",
        ),
        (["--text", "Hi.", "--speed", "9"], "speed: Input should be less than or equal to 4"),
        (["--text", "Hi.", "--speed", "0.3"], "speed: 0.3 is outside the local engine's range 0.5 to 2.5"),
        (["--text", "Hi.", "--voice", "klingon"], "voice: the local engine has no voice 'klingon'"),
        (["/no/such/document.txt"], "source: /no/such/document.txt does not exist"),
        (["ftp2://host/doc.txt"], "source: cannot open 'ftp2://host/doc.txt'"),
        (["--text", "Hi.", "--out", "/proc/narrations"], "output: /proc/narrations cannot be written"),
        (["--text", "Hi.", "--name", "../escape"], "name: '../escape' is not a plain file name"),
        ([], "give a document or --text"),
    ],
)
def test_bad_input_is_refused_with_the_field_and_limit(tmp_path, args, expected):
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path)]
    result = narrate(*args, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr
    assert not (tmp_path / ".chunks").exists()


def test_binary_and_invalid_utf8_sources_are_refused(tmp_path):
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))
    for path, expected in ((binary, "looks like a binary file"), (latin1, "is not valid UTF-8")):
        result = narrate(str(path), "--out", str(tmp_path / "out"), timeout=60)
        assert result.returncode == 2 and expected in result.stderr, result.stderr
