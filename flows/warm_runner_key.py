"""What a warm runner's answers depend on, read without importing Prefect: the key that picks the runner.

A runner imported Prefect and this project's code once, in the folder and environment of the command
that started it, and it keeps them. So a later command may use it only if all of those are the same:
the Python executable and its installed packages, the project's code, the working folder (relative
paths, the default NARRATION_ALLOWED_ROOTS, `.env`, `prefect.toml`), the whole environment (not only
NARRATION_* and PREFECT_*: AWS keys, proxies and certificates change what a run can reach), and the
Prefect profiles file. `fingerprint` hashes cheap facts about them (file sizes and mtimes, not
contents); any change gives another key, so a stale or differently configured runner is never asked.

`local_server_is_used` answers the CLI's first question, "is an API URL configured anywhere Prefect
looks?", the way Prefect's settings would, and says None when unsure: the caller then takes the old
path, where Prefect itself decides.
"""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE_FOLDERS = ("flows", "tasks", "blocks", "speech_audio")
# Shell and make bookkeeping that changes from one command to the next and changes nothing in a run
# (without make's, the runner `make demo` starts would never serve the commands typed after it).
VOLATILE_VARIABLES = frozenset(
    {
        "_",
        "OLDPWD",
        "PWD",
        "SHLVL",
        "COLUMNS",
        "LINES",
        "MAKEFLAGS",
        "MFLAGS",
        "MAKELEVEL",
        "MAKE_TERMOUT",
        "MAKE_TERMERR",
    }
)
# Prefect reads these from the working folder (pydantic-settings' dotenv and TOML sources).
FOLDER_CONFIG_FILES = (".env", "prefect.toml", "pyproject.toml")
# Prefect's test mode ignores the profiles file: whatever it does, it is not the case handled here.
TEST_MODE_VARIABLES = (
    "PREFECT_TEST_MODE",
    "PREFECT_UNIT_TEST_MODE",
    "PREFECT_TESTING_UNIT_TEST_MODE",
    "PREFECT_TESTING_TEST_MODE",
)


def _stat_of(path: Path) -> str:
    try:
        facts = path.stat()
    except OSError:
        return f"{path}:absent"
    return f"{path}:{facts.st_size}:{facts.st_mtime_ns}"


def _code_files(root: Path) -> Iterator[Path]:
    for folder in CODE_FOLDERS:
        for directory, subdirectories, files in os.walk(root / folder):
            subdirectories[:] = sorted(name for name in subdirectories if name != "__pycache__")
            yield from (Path(directory) / name for name in sorted(files) if name.endswith(".py"))


def code_stamp(root: Path = ROOT) -> str:
    """Sizes and mtimes of the project's .py files and of site-packages (an install changes its mtime)."""
    facts = [_stat_of(path) for path in _code_files(root)]
    facts.append(_stat_of(Path(sysconfig.get_paths()["purelib"])))
    return hashlib.sha256("\n".join(facts).encode()).hexdigest()


def profiles_path(environ: Mapping[str, str]) -> Path | None:
    """The profiles file Prefect reads once the CLI has set PREFECT_HOME (and PREFECT_PROFILES_PATH)."""
    if environ.get("PREFECT_PROFILES_PATH"):
        return Path(environ["PREFECT_PROFILES_PATH"]).expanduser()
    if environ.get("PREFECT_HOME"):
        return Path(environ["PREFECT_HOME"]).expanduser() / "profiles.toml"
    return None


def fingerprint(environ: Mapping[str, str], cwd: str) -> str:
    """The key of the runner that may serve a command run in `cwd` with `environ`; a hash, no values in clear."""
    digest = hashlib.sha256()
    profiles = profiles_path(environ)
    parts = [
        sys.executable,
        sys.version,
        str(ROOT),
        code_stamp(),
        cwd,
        *(_stat_of(Path(cwd) / name) for name in FOLDER_CONFIG_FILES),
        _stat_of(profiles) if profiles else "no profiles",
    ]
    parts += [f"{key}={value}" for key, value in sorted(environ.items()) if key not in VOLATILE_VARIABLES]
    for part in parts:
        digest.update(part.encode(errors="surrogateescape") + b"\0")
    return digest.hexdigest()[:20]


def _api_url_in_dotenv(path: Path) -> bool | None:
    """Whether `.env` sets Prefect settings; any PREFECT_ key at all makes the answer unsure (None)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return False
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        key = line.strip().removeprefix("export ").split("=", 1)[0].strip().upper()
        if key.startswith("PREFECT_"):
            return None
    return False


def _read_toml(path: Path) -> dict | None:
    """The file's table; {} when it does not exist; None when it cannot be read."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None


def _api_url_in_profiles(environ: Mapping[str, str]) -> bool | None:
    path = profiles_path(environ)
    if path is None:
        return None
    data = _read_toml(path)
    if data is None:
        return None
    active = environ.get("PREFECT_PROFILE") or data.get("active")
    profiles = data.get("profiles") or {}
    if not active or active not in profiles:
        return False  # Prefect falls back to its bundled default profile, which sets no API URL
    profile = profiles[active]
    if not isinstance(profile, dict):
        return None
    return bool({key.upper(): value for key, value in profile.items()}.get("PREFECT_API_URL"))


def api_url_configured(environ: Mapping[str, str], cwd: str) -> bool | None:
    """True if Prefect would find an API URL, False if surely not, None if unsure (let Prefect decide).

    Prefect's order: the environment (names case-insensitive), `.env`, `prefect.toml` and `pyproject.toml`
    in the working folder, then the active profile of the profiles file.
    """
    upper = {key.upper(): value for key, value in environ.items()}
    if "PREFECT_API_URL" in upper:
        return True if upper["PREFECT_API_URL"] else None
    if any(upper.get(name) for name in TEST_MODE_VARIABLES):
        return None
    folder = Path(cwd)
    if _api_url_in_dotenv(folder / ".env") is None:
        return None
    for name, table in (("prefect.toml", ()), ("pyproject.toml", ("tool", "prefect"))):
        data = _read_toml(folder / name)
        if data is None:
            return None
        for key in table:
            data = data.get(key) if isinstance(data, dict) else None
        if isinstance(data, dict) and ("api" in data or "profiles_path" in data):
            return None
    return _api_url_in_profiles(environ)


def local_server_is_used(environ: Mapping[str, str], cwd: str) -> bool:
    """Whether the run would surely go to the local background server (no API URL configured anywhere)."""
    return api_url_configured(environ, cwd) is False
