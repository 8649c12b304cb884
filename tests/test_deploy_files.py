"""The files for running at scale, checked where Docker cannot run: what each one says must fit the others.

Docker images cannot be built or run here, so these tests read the Dockerfile, constraints.txt,
deploy/compose.yaml and the three prefect yaml files with the parsers their tools use (YAML,
dockerfile-parse, packaging, Prefect's own entrypoint loader and settings) and check that they agree:
names of pools, images, networks, buckets, ports and secrets, and pins against pyproject.toml.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import tomllib
from functools import cache
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "deploy" / "compose.yaml"
LOCAL, DOCKER, GIT = (
    ROOT / "prefect.yaml",
    ROOT / "deploy" / "prefect.remote.yaml",
    ROOT / "deploy" / "prefect.git.yaml",
)
PREFECT_FILES = [LOCAL, DOCKER, GIT]
REMOTE_FILES = [DOCKER, GIT]
SERVER_SERVICES = ("migrate", "prefect-server", "prefect-services")
#: Prefect's settings for several API servers sharing Redis (prefect-redis)
REDIS_SETTINGS = {
    "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
    "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
    "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
    "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
}


def interpolated(value: str) -> str:
    """A compose value as a container sees it, with each `${VARIABLE...}` given a sample value."""
    return re.sub(r"\$\{(\w+)[^}]*\}", lambda match: f"sample-{match[1].lower()}", value)


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@cache
def compose() -> dict:
    return load_yaml(COMPOSE)


def service(name: str) -> dict:
    return compose()["services"][name]


def command(name: str) -> list[str]:
    value = service(name)["command"]
    return shlex.split(value) if isinstance(value, str) else value


def option(words: list[str], flag: str) -> str:
    return words[words.index(flag) + 1]


def constraints_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("constraints_script", ROOT / "scripts" / "constraints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pins() -> dict[str, str]:
    """constraints.txt as {canonical name: version}; every line must be an exact pin, each name once."""
    found: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==" and not requirement.marker, line
        name = canonicalize_name(requirement.name)
        assert name not in found, f"{name} pinned twice"
        found[name] = specifier.version
    return found


def dockerfile() -> DockerfileParser:
    parser = DockerfileParser(fileobj=(ROOT / "Dockerfile").open("rb"))
    return parser


def instructions(kind: str) -> list[str]:
    return [item["value"] for item in dockerfile().structure if item["instruction"] == kind]


def pip_install_commands() -> list[list[str]]:
    """The argument lists of every `pip install` in the Dockerfile's RUN instructions."""
    found = []
    for run in instructions("RUN"):
        for part in run.split("&&"):
            words = shlex.split(part)
            if words[:2] == ["pip", "install"]:
                found.append(words[2:])
    return found


def deployments(path: Path) -> dict[str, dict]:
    return {deployment["name"]: deployment for deployment in load_yaml(path)["deployments"]}


# constraints.txt and the Dockerfile


def test_constraints_pin_every_runtime_dependency_within_pyproject_ranges():
    pinned = pins()
    for requirement in constraints_script().image_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not pinned: run scripts/constraints.py"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (requirement, pinned[name])


def test_constraints_are_exactly_the_dependency_closure_without_test_tools():
    script = constraints_script()
    closure = set(script.closure(script.image_requirements()))
    assert set(pins()) == closure, "constraints.txt is out of date: run scripts/constraints.py"
    assert not closure & {"pytest", "moto", "ruff", "playwright", "hypothesis", "narration-orchestrator"}


def test_the_image_is_python_3_11_slim_and_installs_the_project_from_constraints():
    assert dockerfile().baseimage == "python:3.11-slim"
    installs = pip_install_commands()
    project = [words for words in installs if any(word == "." or word.startswith(".[") for word in words)]
    assert len(project) == 1, installs
    (words,) = project
    assert option(words, "-c") == "constraints.txt" and "-e" not in words and "--editable" not in words
    named = [word for word in words if not word.startswith("-") and word != "constraints.txt"]
    extras = Requirement("narration-orchestrator" + named[0][1:]).extras if named[0] != "." else set()
    script = constraints_script()
    assert extras == set(script.IMAGE_EXTRAS) and set(named[1:]) == set(script.SERVER_PACKAGES)
    # Every other install is pinned too: only the constraints themselves, without resolving anything new.
    assert all(words in (project[0], ["--no-deps", "-r", "constraints.txt"]) for words in installs), installs


def test_the_image_copies_constraints_first_and_every_package_of_the_project():
    copies = [shlex.split(value) for value in instructions("COPY")]
    assert copies[0][0] == "constraints.txt"
    sources = [source.rstrip("/") for words in copies for source in words[:-1]]
    assert all((ROOT / source).exists() for source in sources), sources
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    for pattern in packages["include"]:
        assert pattern.rstrip("*") in sources, f"the image lacks {pattern}"
    assert {"pyproject.toml", "README.md"} <= set(sources)


def test_the_image_runs_as_a_user_and_starts_a_worker_on_the_git_pool():
    users = instructions("USER")
    assert users and users[-1] not in {"root", "0"}
    cmd = json.loads(instructions("CMD")[-1])  # the exec form is a JSON array
    assert cmd[:3] == ["prefect", "worker", "start"]
    assert option(cmd, "--pool") == load_yaml(GIT)["definitions"]["work_pool"]["name"]


# deploy/compose.yaml


def test_compose_describes_the_production_topology():
    assert set(compose()["services"]) == {
        "postgres",
        "redis",
        "migrate",
        "prefect-server",
        "prefect-services",
        "minio",
        "minio-setup",
        "worker",
    }
    assert command("migrate")[:5] == ["prefect", "server", "database", "upgrade", "-y"]
    assert command("prefect-server")[:3] == ["prefect", "server", "start"] and "--no-services" in command(
        "prefect-server"
    )
    assert command("prefect-services") == ["prefect", "server", "services", "start"]
    assert int(service("worker")["deploy"]["replicas"]) >= 2
    assert Version(service("postgres")["image"].split(":")[1]) >= Version("14.9")  # Prefect's minimum


def test_every_server_process_shares_postgres_redis_and_authentication():
    for name in SERVER_SERVICES:
        env = service(name)["environment"]
        url = urlsplit(interpolated(env["PREFECT_API_DATABASE_CONNECTION_URL"]))
        database = {key: interpolated(value) for key, value in service("postgres")["environment"].items()}
        assert url.scheme == "postgresql+asyncpg" and url.hostname == "postgres"
        assert (url.username, url.password, url.path) == (
            database["POSTGRES_USER"],
            database["POSTGRES_PASSWORD"],
            f"/{database['POSTGRES_DB']}",
        )
        assert env["PREFECT_API_DATABASE_MIGRATE_ON_START"] == "false"
        assert {key: env.get(key) for key in REDIS_SETTINGS} == REDIS_SETTINGS
        assert env["PREFECT_REDIS_MESSAGING_HOST"] == "redis"
        assert env["PREFECT_SERVER_API_AUTH_STRING"].startswith("${")
        waits_for = service(name)["depends_on"]
        assert waits_for.get("postgres", waits_for.get("migrate"))
    for name in ("prefect-server", "prefect-services"):
        assert service(name)["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_workers_reach_the_api_server_with_its_credentials():
    server, env = command("prefect-server"), service("worker")["environment"]
    api = urlsplit(env["PREFECT_API_URL"])
    assert (api.hostname, api.port, api.path) == ("prefect-server", int(option(server, "--port")), "/api")
    assert env["PREFECT_API_AUTH_STRING"] == service("prefect-server")["environment"]["PREFECT_SERVER_API_AUTH_STRING"]
    assert option(command("worker"), "--pool") == load_yaml(GIT)["definitions"]["work_pool"]["name"]
    assert service("worker")["working_dir"] in "".join(instructions("RUN"))  # the image creates it, writable


def test_secrets_are_required_from_the_environment_never_written_down():
    secret_words = ("PASSWORD", "AUTH_STRING", "SECRET", "ACCESS_KEY")
    for name, definition in compose()["services"].items():
        for key, value in (definition.get("environment") or {}).items():
            if any(word in key for word in secret_words):
                assert value.startswith("${") and ":?" in value, f"{name}.{key} has a value or a default: {value}"


def test_every_prefect_setting_in_compose_is_one_prefect_knows_and_names_modules_that_exist():
    # Prefect's own table of setting names (environment variable spellings), and prefect-redis's.
    from prefect.settings import Settings
    from prefect.settings.legacy import _get_valid_setting_names
    from prefect_redis.client import RedisMessagingSettings

    known = _get_valid_setting_names(Settings) | _get_valid_setting_names(RedisMessagingSettings)
    for name, definition in compose()["services"].items():
        for key in definition.get("environment") or {}:
            assert not key.startswith("PREFECT_") or key in known, f"{name}: {key} is not a Prefect setting"
    for module in REDIS_SETTINGS.values():
        assert importlib.util.find_spec(module), module


def test_compose_builds_the_image_from_this_repository_for_every_prefect_process():
    for name in (*SERVER_SERVICES, "worker"):
        build = service(name)["build"]
        assert (COMPOSE.parent / build["context"]).resolve() == ROOT and (ROOT / build["dockerfile"]).is_file()
        assert service(name)["image"] == load_yaml(DOCKER)["definitions"]["work_pool"]["job_variables"]["image"]


def test_docker_pool_containers_join_the_compose_network_and_use_its_bucket():
    pool = load_yaml(DOCKER)["definitions"]["work_pool"]
    assert pool["job_variables"]["networks"] == [compose()["networks"]["default"]["name"]]
    setup = " ".join(command("minio-setup"))
    for path in REMOTE_FILES:
        for deployment in deployments(path).values():
            for value in (deployment.get("parameters") or {}).values():
                if str(value).startswith("s3://"):
                    assert f"/{urlsplit(value).hostname}" in setup, f"minio-setup does not create {value}"


# prefect.yaml and the remote variants


@pytest.mark.parametrize("path", PREFECT_FILES, ids=lambda path: path.name)
def test_every_deployment_names_a_flow_that_exists_under_its_own_name(path):
    from prefect.flows import safe_load_flow_from_entrypoint

    for name, deployment in deployments(path).items():
        file, function = deployment["entrypoint"].split(":")
        assert (ROOT / file).is_file(), deployment["entrypoint"]
        flow = safe_load_flow_from_entrypoint(f"{ROOT / file}:{function}")
        assert flow is not None and flow.name == name, deployment["entrypoint"]


@pytest.mark.parametrize("path", REMOTE_FILES, ids=lambda path: path.name)
def test_remote_variants_deploy_the_same_flows_triggers_and_schedules_as_the_local_file(path):
    local, remote = deployments(LOCAL), deployments(path)
    assert set(remote) == set(local)  # `narrate-folder` fans out to narrate/narrate: it must exist everywhere
    for name, deployment in remote.items():
        for key in ("entrypoint", "schedules", "triggers"):
            assert deployment.get(key) == local[name].get(key), (name, key)
        assert set(deployment.get("parameters") or {}) >= set(local[name].get("parameters") or {})
        for key, value in (deployment.get("parameters") or {}).items():
            # A worker on another machine has no share of this one's disk: everything is a URL.
            assert not str(value).startswith(("./", "/", "~")), (name, key, value)
        assert deployment["work_pool"]["name"] != local[name]["work_pool"]["name"]


def test_the_docker_variant_runs_the_code_baked_into_the_image():
    (step,) = load_yaml(DOCKER)["pull"]
    directory = step["prefect.deployments.steps.set_working_directory"]["directory"]
    assert directory == next(value for value in instructions("WORKDIR"))  # the first WORKDIR holds the code


def test_the_git_variant_clones_the_repository_named_when_deploying():
    (step,) = load_yaml(GIT)["pull"]
    clone = step["prefect.deployments.steps.git_clone"]
    assert clone["repository"].startswith("{{ $") and clone["branch"].startswith("{{ $")


def test_the_local_file_still_runs_here_on_the_narration_process_pool():
    local = load_yaml(LOCAL)
    assert local["pull"] == [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $PWD }}"}}]
    assert {deployment["work_pool"]["name"] for deployment in local["deployments"]} == {"narration"}


def test_the_local_file_starts_flow_runs_with_this_projects_interpreter():
    command = load_yaml(LOCAL)["definitions"]["work_pool"]["job_variables"]["command"]
    assert command == "{{ $PWD }}/.venv/bin/python -m prefect.engine"
    assert (ROOT / ".venv" / "bin" / "python").exists()  # what `make` installs, and the tests run with
