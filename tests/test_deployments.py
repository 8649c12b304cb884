"""Deployments on a real Prefect server with process workers: on demand, on events, on a folder."""

from __future__ import annotations

import asyncio
import http.server
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import PrefectClient

from tests.audio_probe import decoded_duration
from tests.prefect_server import (
    PrefectServer,
    read_deployment,
    run_deployment,
    runs_of,
    set_defaults,
    wait_for_runs,
    workers_that_ran,
)
from tests.s3_server import MotoServer

pytestmark = pytest.mark.slow

DOCUMENT = [
    "The first paragraph stays the same in every version of this document. It has two sentences.",
    "The second paragraph is the one that will be edited later on.",
    "The third paragraph also stays the same, and closes the document.",
]


@pytest.fixture(scope="module")
def moto():
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def allowed_root(tmp_path_factory) -> Path:
    """What the workers may touch: the tests' temporary folders (and the shared S3 bucket)."""
    return tmp_path_factory.getbasetemp()


@pytest.fixture(scope="module")
def server(emulator_process, moto, allowed_root):
    server = PrefectServer(settings={"NARRATION_ALLOWED_ROOTS": f"{allowed_root},s3://shared"})
    try:
        server.cli("work-pool", "create", "narration", "--type", "process")
        server.cli("--no-prompt", "deploy", "--all")
        server.python(
            "from tests.provider_blocks import save_block; "
            f"save_block('openai-speech', {emulator_process.url!r}, 'deployed', chunk_characters=70); "
            f"save_block('maas-ele', {emulator_process.url!r}, 'capped', chunk_characters=40, max_concurrency=3, global_limits=True); "
            "from blocks import NarrationStorage; "
            f"NarrationStorage(base_url='s3://shared', storage_options={moto.storage_options!r}).save('moto', overwrite=True)"
        )
        # At most 3 runs each, as a worker beside others would be configured. Which worker takes which run is
        # not something these tests can rely on: on SQLite, runs created together are spread over seconds
        # by "database is locked" answers and the client's retries, and the first worker to poll takes each
        # (tests/test_postgres_fleet.py checks that several workers share the work, on PostgreSQL).
        server.start_worker("worker-1", limit=3)
        server.start_worker("worker-2", limit=3)
        yield server
    finally:
        server.stop()


def test_narrate_deployment_writes_audio_through_the_emulator(server, emulator, tmp_path):
    request = {
        "text": "\n\n".join(DOCUMENT),
        "provider": "openai-speech/deployed",
        "output": str(tmp_path),
        "name": "ondemand",
    }
    run = run_deployment(server, "narrate/narrate", {"request": request})
    assert run.state.is_completed(), run.state.message
    manifest = json.loads((tmp_path / "ondemand.manifest.json").read_text())
    assert emulator.served("openai") == len(manifest["chunks"]) >= 3
    assert (
        abs(decoded_duration(manifest["audio"], "mp3", manifest["sample_rate"]) - manifest["duration_seconds"]) <= 0.05
    )


def test_an_edit_regenerates_by_itself_paying_only_for_changed_chunks(server, emulator, tmp_path):
    folder, out = tmp_path / "docs", tmp_path / "out"
    folder.mkdir()
    document = folder / "story.txt"
    document.write_text("\n\n".join(DOCUMENT), encoding="utf-8")
    set_defaults(server, "regenerate/regenerate", {"output": str(out), "provider": "openai-speech/missing"})
    watch = {"source": str(folder), "state": str(tmp_path / "watch-state.json"), "output": str(out), "retry_minutes": 0}
    before = len(runs_of(server, "regenerate/regenerate"))
    failed_before = sum(run.state.is_failed() for run in runs_of(server, "regenerate/regenerate"))

    # a regeneration that fails leaves the document to do: the next interval asks for it again
    assert run_deployment(server, "watch-sources/watch-sources", watch).state.is_completed()
    runs = wait_for_runs(server, "regenerate/regenerate", before + 1)
    assert sum(run.state.is_failed() for run in runs) == failed_before + 1
    set_defaults(server, "regenerate/regenerate", {"provider": "openai-speech/deployed"})
    before += 1
    assert run_deployment(server, "watch-sources/watch-sources", watch).state.is_completed()
    wait_for_runs(server, "regenerate/regenerate", before + 1)
    first = json.loads((out / "story.manifest.json").read_text())
    assert emulator.served("openai") == len(first["chunks"])

    emulator.reset()
    edited = [DOCUMENT[0], "The second paragraph was edited: it now says something else.", DOCUMENT[2]]
    document.write_text("\n\n".join(edited), encoding="utf-8")
    assert run_deployment(server, "watch-sources/watch-sources", watch).state.is_completed()
    runs = wait_for_runs(server, "regenerate/regenerate", before + 2)
    failures = [run.state.message for run in runs if not run.state.is_completed()]
    assert len(failures) == failed_before + 1, failures  # only the one made to fail
    second = json.loads((out / "story.manifest.json").read_text())
    changed = [c for c in second["chunks"] if not c["cached"]]
    assert emulator.served("openai") == len(changed) == 1
    assert [c["text_sha256"] for c in second["chunks"] if c["cached"]] == [
        c["text_sha256"] for c in first["chunks"] if c["index"] != changed[0]["index"]
    ]

    assert run_deployment(server, "watch-sources/watch-sources", watch).state.is_completed()
    time.sleep(3)
    assert len(runs_of(server, "regenerate/regenerate")) == before + 2  # nothing changed: no event, no run


def test_narrate_folder_narrates_new_and_changed_documents_and_skips_the_rest(server, emulator, tmp_path):
    folder, out = tmp_path / "docs", tmp_path / "out"
    folder.mkdir()
    for name, text in (
        ("alpha.txt", "Alpha is a short document."),
        ("beta.md", "Beta is another one."),
        ("gamma.txt", "Gamma."),
    ):
        (folder / name).write_text(text, encoding="utf-8")
    parameters = {"source": str(folder), "output": str(out), "provider": "openai-speech/deployed"}
    assert run_deployment(server, "narrate-folder/narrate-folder", parameters).state.is_completed()
    assert emulator.served("openai") == 3
    untouched = (out / "gamma.manifest.json").read_bytes()
    emulator.reset()
    (folder / "alpha.txt").write_text("Alpha changed.", encoding="utf-8")
    (folder / "delta.txt").write_text("Delta is new.", encoding="utf-8")
    before = len(runs_of(server, "narrate/narrate"))
    run = run_deployment(server, "narrate-folder/narrate-folder", parameters)
    assert run.state.is_completed(), run.state.message
    assert emulator.served("openai") == 2
    assert len(runs_of(server, "narrate/narrate")) == before + 2  # fanned out as deployment runs
    assert (out / "gamma.manifest.json").read_bytes() == untouched
    assert sorted(p.name for p in Path(out).glob("*.mp3")) == ["alpha.mp3", "beta.mp3", "delta.mp3", "gamma.mp3"]


def test_narrate_folder_gives_each_run_several_documents_and_a_failed_one_is_narrated_on_the_next_run(
    server, emulator, tmp_path
):
    folder, out = tmp_path / "docs", tmp_path / "out"
    folder.mkdir()
    names = ["one", "two", "three", "four", "five"]
    for name in names:
        (folder / f"{name}.txt").write_text(f"Document {name} is narrated in a run with another.", encoding="utf-8")
    # One request is refused as bad input (not retried): its document fails, and only that one.
    emulator.add_fault("openai", kind="status", status=400, message="refused once")
    parameters = {
        "source": str(folder),
        "output": str(out),
        "provider": "openai-speech/deployed",
        "documents_per_run": 2,
    }
    before = len(runs_of(server, "narrate/narrate"))
    folder_runs_before = {r.id for r in runs_of(server, "narrate-folder/narrate-folder")}
    run = run_deployment(server, "narrate-folder/narrate-folder", parameters)
    assert run.state.is_failed()
    assert "1 of 5 documents failed" in run.state.message, run.state.message
    assert len(runs_of(server, "narrate/narrate")) == before  # no run per document
    shares = [
        r
        for r in runs_of(server, "narrate-folder/narrate-folder")
        if r.id not in folder_runs_before and r.parameters.get("documents")
    ]
    assert sorted(len(r.parameters["documents"]) for r in shares) == [1, 2, 2]
    assert sum(1 for r in shares if r.state.is_failed()) == 1
    narrated = sorted(p.stem for p in out.glob("*.mp3"))
    assert len(narrated) == 4 and emulator.served("openai") == 4
    # The next run narrates the one that failed, and pays for nothing else.
    emulator.reset()
    again = run_deployment(server, "narrate-folder/narrate-folder", parameters)
    assert again.state.is_completed(), again.state.message
    assert emulator.served("openai") == 1
    assert sorted(p.stem for p in out.glob("*.mp3")) == sorted(names)
    for name in names:
        manifest = json.loads((out / f"{name}.manifest.json").read_text())
        assert (
            abs(decoded_duration(manifest["audio"], "mp3", manifest["sample_rate"]) - manifest["duration_seconds"])
            <= 0.05
        )
        assert manifest["duration_seconds"] > 1.0


def test_a_folder_in_s3_is_narrated_by_runs_of_the_pool_within_the_providers_cap(server, emulator, moto):
    """The folder's documents are narrated by `narrate` runs that the pool's workers run in processes of their
    own, within the provider's cap of 3, and the audio lands in S3.

    Whether those runs overlap is left to timing here: on SQLite, creating a run meets a locked database
    and Prefect's client asks again after 2, 4, 8 or 16 s, so the four runs' creation spread over 3-30 s,
    and runs of 3-4 s then often ran one after another. A folder shared by several workers, with most of
    the cap held by another user, is checked on PostgreSQL (tests/test_postgres_fleet.py: its 13 runs land
    on at least two workers, at most 5 each, and requests stay within what the cap leaves). Each
    process's own gate is 3 as well, so nor does this show the limit across processes. On SQLite, a cap
    held that way was once exceeded by one after the database stayed locked for a minute; the likely
    cause: Prefect's release of a lease reads, decrements and revokes it in separate steps, so a release
    retried while the database is locked can count twice. SQLite is not for fleets."""
    import s3fs

    fs = s3fs.S3FileSystem(**moto.storage_options)
    fs.mkdir("shared")
    for i in range(4):
        text = " ".join(f"Document {i} sentence {j} is spoken here." for j in range(6))
        fs.pipe_file(f"shared/docs/doc-{i}.txt", text.encode())
    emulator.set_route("ele", latency_seconds=0.6)
    parameters = {
        "source": "s3://shared/docs/",
        "output": "s3://shared/out/",
        "provider": "maas-ele/capped",
        "storage": "narration-storage/moto",
        "max_parallel": 4,
    }
    run = run_deployment(server, "narrate-folder/narrate-folder", parameters)
    assert run.state.is_completed(), run.state.message
    narrate_runs = [r for r in runs_of(server, "narrate/narrate") if r.parameters["request"].get("storage")]
    assert len(narrate_runs) == 4
    assert sum(workers_that_ran(narrate_runs).values()) == 4  # each run by a worker of the pool
    assert all(r.start_time and r.end_time for r in narrate_runs)
    stats = emulator.stats("ele")
    assert stats["served"] >= 4 * 6 and 2 <= stats["max_in_flight"] <= 3, stats
    for i in range(4):
        assert fs.exists(f"shared/out/doc-{i}.mp3") and fs.exists(f"shared/out/doc-{i}.manifest.json")


def test_a_person_runs_narrate_from_the_ui_form_and_the_audio_appears(server, emulator, tmp_path):
    """Debian chromium fills the `narrate` deployment's Run form, submits it, and watches the run complete."""
    from tests.browser import choose, chromium_page, fill_text, form_field, submit_until_created

    async def deployment_id() -> str:
        async with PrefectClient(server.api_url) as client:
            return str((await read_deployment(client, "narrate/narrate")).id)

    run_form = f"{server.ui_url}/deployments/deployment/{asyncio.run(deployment_id())}/run"
    with chromium_page() as page:
        page.goto(run_form, wait_until="networkidle")
        page.locator(".flow-run-name-input input").fill("from-the-browser")
        assert "maas-ele/my-block" in form_field(page, "Provider (Optional)").inner_text()  # description intact
        fill_text(page, "Text (Optional)", "Hello from the Run form. It has two sentences.")
        fill_text(page, "Provider (Optional)", "openai-speech/deployed")
        fill_text(page, "Output URL (Optional)", str(tmp_path))
        fill_text(page, "Name (Optional)", "from-ui")
        choose(page, "Format (Optional)", "flac")
        run_id = submit_until_created(page)
        page.goto(f"{server.ui_url}/runs/flow-run/{run_id}")
        badge = page.locator(".page-heading-flow-run__meta .state-badge")
        badge.filter(has_text="Completed").wait_for(timeout=180_000)

    manifest = json.loads((tmp_path / "from-ui.manifest.json").read_text())
    assert manifest["format"] == "flac" and emulator.served("openai") == len(manifest["chunks"]) >= 1
    assert (
        abs(decoded_duration(manifest["audio"], "flac", manifest["sample_rate"]) - manifest["duration_seconds"]) <= 0.05
    )
    run = next(r for r in runs_of(server, "narrate/narrate") if r.name == "from-the-browser")
    assert run.state.is_completed() and run.parameters["request"]["format"] == "flac"


class _RecordingServer(http.server.ThreadingHTTPServer):
    """An HTTP server on a free loopback port that counts every request it gets (it must get none)."""

    def __init__(self) -> None:
        self.contacted: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the handler's name is the protocol's
                outer.contacted.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"The secret text nobody may narrate.")

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def test_deployment_runs_touch_only_the_places_the_worker_allows(server, emulator, tmp_path):
    outside = Path(tempfile.mkdtemp(prefix="narration-outside-"))
    recorder = _RecordingServer()
    try:
        (outside / "secret.txt").write_text("The secret text nobody may narrate.", encoding="utf-8")
        link = tmp_path / "link.txt"
        link.symlink_to(outside / "secret.txt")
        out = str(tmp_path / "out")
        doors = [
            {"source": "/etc/passwd", "output": out},
            {"source": "~/narration-secret.txt", "output": out},
            {"source": str(link), "output": out},
            {"source": "s3://other-bucket/doc.txt", "output": out},
            {"source": f"{recorder.url}/secret.txt", "output": out},
            {"source": f"simplecache::{recorder.url}/secret.txt", "output": out},
            {"text": "Written where it may not be.", "output": str(outside)},
            {"text": "A store where it may not be.", "output": out, "chunk_store": str(outside / "store")},
        ]
        for request in doors:
            run = run_deployment(server, "narrate/narrate", {"request": request})
            assert run.state.is_failed(), request
            assert "outside the places this worker allows" in run.state.message, (request, run.state.message)

        # an event anyone who reaches the API can emit: regenerate refuses it too
        before = len(runs_of(server, "regenerate/regenerate"))
        server.python(
            "from prefect.events import emit_event; "
            "emit_event(event='narration.source.updated', resource={'prefect.resource.id': 'narration.source.x'}, "
            "payload={'url': '/etc/passwd', 'sha256': 'x'})"
        )
        wait_for_runs(server, "regenerate/regenerate", before + 1)
        (regenerated,) = [
            run for run in runs_of(server, "regenerate/regenerate") if run.parameters.get("document") == "/etc/passwd"
        ]
        assert regenerated.state.is_failed() and "outside the places" in regenerated.state.message

        # a folder: its own documents are narrated, a symlink out of it is never read
        folder = tmp_path / "docs"
        folder.mkdir()
        (folder / "real.txt").write_text("A document that may be narrated.", encoding="utf-8")
        (folder / "escape.txt").symlink_to(outside / "secret.txt")
        run = run_deployment(
            server, "narrate-folder/narrate-folder", {"source": str(folder), "output": out, "provider": "local-speech"}
        )
        assert run.state.is_completed(), run.state.message
        assert (tmp_path / "out" / "real.manifest.json").exists()
        assert not (tmp_path / "out" / "escape.manifest.json").exists()
        refused = run_deployment(server, "narrate-folder/narrate-folder", {"source": str(outside), "output": out})
        assert refused.state.is_failed() and "outside the places" in refused.state.message
    finally:
        recorder.stop()
        shutil.rmtree(outside, ignore_errors=True)
    assert recorder.contacted == []
    assert not any("secret" in path.name for path in (tmp_path / "out").glob("*"))
