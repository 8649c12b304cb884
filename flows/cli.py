"""`narrate`: run the narrate flow from a shell, with a progress bar, and say where the audio went.

Input is checked before Prefect is imported (that alone costs seconds), so a typo fails fast
with the field and the limit named; the flow checks the same things again for UI and API runs.
Without a configured PREFECT_API_URL the run goes to a local server in the background that the first
command starts and later ones reuse (`flows/local_server.py`), not to an ephemeral server per command;
there a later command does not even import Prefect: a warm runner the first one started runs it
(`flows/warm_runner.py`), and without one that matches, the command runs the flow itself.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from speech_audio.encodings import OutputFormat

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130  # as a shell reports SIGINT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="narrate", description="Narrate a document or text into audio, subtitles and a manifest."
    )
    parser.add_argument("source", nargs="?", help="document path or fsspec URL (.txt, .md, .html, .epub, .srt, .vtt)")
    parser.add_argument("--text", help="narrate this text instead of a document")
    parser.add_argument("--provider", default="local-speech", help="block <type>/<name>; default: local-speech")
    parser.add_argument("--voice", help="provider voice (default: the block's)")
    parser.add_argument(
        "--input-format",
        choices=["text", "markdown", "html", "epub", "srt", "vtt"],
        help="how to read the document (default: from its extension; --text: plain text)",
    )
    parser.add_argument("--chapter-levels", type=int, default=2, help="headings of this level or above start chapters")
    parser.add_argument("--read-tables", action="store_true", help="speak tables row by row instead of skipping them")
    parser.add_argument("--format", default="mp3", help=f"one of {', '.join(f.value for f in OutputFormat)}")
    parser.add_argument("--speed", type=float, help="0.25 to 4.0 (default: the block's)")
    parser.add_argument("--out", default="./narrations/", help="output folder or fsspec URL")
    parser.add_argument("--name", help="output file stem (default: the source's stem)")
    parser.add_argument("--pause", type=float, default=0.6, help="seconds of silence between paragraphs")
    parser.add_argument("--sentence-pause", type=float, default=0.35, help="seconds between chunks of one paragraph")
    parser.add_argument("--heading-pause", type=float, default=1.0, help="seconds before and after a heading")
    parser.add_argument(
        "--loudness",
        default="-19",
        help="integrated loudness target in LUFS (default -19), or 'off' to keep the levels",
    )
    parser.add_argument("--split-chapters", action="store_true", help="also write one file per chapter")
    parser.add_argument("--dry-run", action="store_true", help="print what would be paid for, and pay nothing")
    parser.add_argument("--budget", type=int, help="most characters this run may bill, retries included")
    parser.add_argument("--lexicon", help="pronunciation lexicon (YAML or CSV): written form -> how to say it")
    parser.add_argument("--sample-rate", type=int, help="output sample rate in Hz")
    parser.add_argument("--storage", help="a narration-storage block <type>/<name> holding the storage credentials")
    parser.add_argument("--chunk-store", help="fsspec URL of the chunk store (default: <out>/.chunks)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true", help="show Prefect's logs")
    return parser


def _validation_message(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "request"
        lines.append(f"{field}: {item['msg']}")
    return "; ".join(lines)


def build_request(args: argparse.Namespace):
    from flows.parameters import NarrationRequest

    return NarrationRequest(
        text=args.text,
        source=args.source,
        input_format=args.input_format,
        chapter_levels=args.chapter_levels,
        read_tables=args.read_tables,
        provider=args.provider,
        voice=args.voice,
        format=args.format,
        speed=args.speed,
        output=args.out,
        name=args.name,
        paragraph_pause_seconds=args.pause,
        sentence_pause_seconds=args.sentence_pause,
        heading_pause_seconds=args.heading_pause,
        loudness_lufs=None if args.loudness.lower() == "off" else args.loudness,
        split_chapters=args.split_chapters,
        dry_run=args.dry_run,
        max_billed_characters=args.budget,
        lexicon=args.lexicon,
        sample_rate=args.sample_rate,
        chunk_store=args.chunk_store,
        storage=args.storage,
    )


def precheck(request, *, local_engine: bool = True) -> None:
    """What can be checked without Prefect: the text, the output, and the local engine's voice and speed.

    With a storage block the credentials are in Prefect, so the flow checks source and output itself.
    The local engine's check imports Prefect (its block is a Prefect block): `local_engine=False` leaves
    it to `check_local_engine`, which a warm runner does for the command.
    """
    from tasks.models import text_sha256
    from tasks.output.location import check_writable, name_for
    from tasks.text.intake import load_document

    if request.storage and request.source is not None:
        return  # the source and output open with the storage block's credentials: the flow checks them
    document = load_document(request.text, request.source, request.input_format, request.document_options)
    if request.lexicon:
        from tasks.text.intake import read_source_bytes
        from tasks.text.lexicon import load_lexicon

        load_lexicon(read_source_bytes(request.lexicon, field="lexicon"), request.lexicon)
    name_for(request.source, text_sha256(document.spoken_text()), request.name)
    if not request.storage:
        check_writable(request.output)
    if local_engine:
        check_local_engine(request)


def check_local_engine(request) -> None:
    """The local engine's voice and speed, before anything runs."""
    if request.provider == "local-speech":
        from blocks.local_speech import LocalSpeech
        from tasks.synthesis.providers import engine_for

        asyncio.run(engine_for(LocalSpeech(), request.voice, request.speed).prepare())


@contextmanager
def progress_bar(show: bool) -> Iterator[Callable[[int, int, str], None] | None]:
    """A rich progress bar on the terminal, and the callback that moves it; None when not shown."""
    if not show:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]narrating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("chunks"),
        TimeElapsedColumn(),
        transient=False,
    ) as bar:
        rows: dict[str, object] = {}

        def on_progress(done: int, total: int, what: str) -> None:
            if what not in rows:
                rows[what] = bar.add_task(what, total=total)
            bar.update(rows[what], completed=done, total=total)

        yield on_progress


def _run(request, show_progress: bool):
    from flows.narrate import narrate
    from tasks.output import progress as run_progress

    with progress_bar(show_progress) as on_progress:
        if on_progress is None:
            return asyncio.run(narrate(request))
        run_progress.add_listener(on_progress)
        try:
            return asyncio.run(narrate(request))
        finally:
            run_progress.remove_listener(on_progress)


def _run_warm(target, request, show_progress: bool):
    """The request run by the warm runner of `target`: an Outcome, or NotServed (the command runs it itself)."""
    from flows import warm_runner

    with progress_bar(show_progress) as on_progress:
        return warm_runner.run(target, request.model_dump(mode="json"), on_progress)


def _warm_target():
    """The warm runner this command may use (None: turned off, or runs not surely going to the local server)."""
    from flows import warm_runner
    from flows.local_server import default_home

    return warm_runner.target_for(default_home())


SERVER_HELP = """\
The local Prefect server: without PREFECT_API_URL (in the environment or the active Prefect profile), the
first `narrate` starts one in the background (in PREFECT_HOME, else $XDG_DATA_HOME/narration-orchestrator/prefect)
and later commands reuse it.
  narrate server status   print its URL, pid and home, or "not running" (exit code 1), and its warm runners
  narrate server start    start it now (the first narration would)
  narrate server stop     stop it and its warm runners, and remove their records
Later commands are run by a warm runner the first one starts (Prefect imported once; it exits after
15 idle minutes); NARRATION_WARM_RUNNER=0 runs every command in its own process.
A document named `server` is given as ./server."""


def server_command(argv: list[str]) -> int:
    """`narrate server start|status|stop`: the background server narrate starts and reuses, and its warm runners."""
    from flows import local_server, warm_runner

    parser = argparse.ArgumentParser(
        prog="narrate server",
        description=SERVER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["start", "status", "stop"])
    action = parser.parse_args(argv).action
    home = local_server.default_home()
    stopped_runners: list[int] = []
    try:
        if action == "start":
            server = local_server.ensure(home, announce=_say)
        elif action == "status":
            server = local_server.status(home)
        else:
            stopped_runners = warm_runner.stop_all(home)  # first: a runner never outlives its server
            server = local_server.stop(home)
    except local_server.LocalServerError as error:
        print(f"narrate: failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    if os.environ.get("PREFECT_API_URL"):
        _say(f"note: PREFECT_API_URL is set, so narrate uses {os.environ['PREFECT_API_URL']}, not this server")
    if server is None:
        print(f"not running (home: {home})")
    elif action == "stop":
        print(f"stopped: {server.url} (pid {server.pid}, home: {server.home})")
    else:
        print(f"running: {server.url}\npid:     {server.pid}\nhome:    {server.home}")
    for pid in stopped_runners:
        print(f"stopped warm runner: pid {pid}")
    if action == "status":
        for runner in warm_runner.runners(home):
            state = "ready" if runner.ready else "warming up"
            print(
                f"runner:  pid {runner.pid}, {state}, {runner.served} runs served, {runner.running} running, "
                f"folder {runner.cwd}"
            )
        if last := warm_runner.last_exit(home):
            print(f"last runner exit: {last}")
    return 1 if server is None and action == "status" else 0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _keep_prefect_files_out_of_home_dot_prefect() -> None:
    """Without PREFECT_HOME, Prefect would create and fill ~/.prefect: give it this tool's data folder instead.

    The user's own profiles file is still read, so an API URL (or key) set there keeps its say.
    """
    if os.environ.get("PREFECT_HOME"):
        return
    from flows.local_server import default_home

    home = default_home()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)  # Prefect creates only the last level
    os.environ.setdefault("PREFECT_PROFILES_PATH", str(Path.home() / ".prefect" / "profiles.toml"))
    os.environ["PREFECT_HOME"] = str(home)


def connect_prefect(*, start_server: bool = True) -> str:
    """The API this run talks to: PREFECT_API_URL if configured anywhere Prefect looks, else the local server.

    Called once the input is known to be good (Prefect is about to be imported for the run anyway). The URL
    goes into the environment and Prefect's global settings, so every thread (event and log workers
    included) and every subprocess sees it; no ephemeral server is ever started in this process.
    `start_server=False` (a warm runner) refuses rather than start the local server.
    """
    from prefect.settings import get_current_settings

    from flows.shared_tls import share_prefect_api_contexts

    share_prefect_api_contexts()  # a run opens five API clients: one SSL context, not five (0.2 s each)
    if url := get_current_settings().api.url:
        return url
    from prefect.context import refresh_global_settings_context

    from flows.local_server import LocalServerError, default_home, ensure, status

    server = ensure(default_home(), announce=_say) if start_server else status(default_home())
    if server is None:
        raise LocalServerError(f"no local server is running in {default_home()}")
    os.environ["PREFECT_API_URL"] = server.url
    refresh_global_settings_context()
    return server.url


def deliver_events(timeout: float = 30.0) -> None:
    """Wait until the run's events (task-run states, narration.audio.created) have reached the server.

    Prefect sends them from a queue in a thread of its own and, at interpreter exit, drains what is left
    while logging "Still processing items: N items remaining..." (each event may cost API calls to attach
    its run's resources, so a busy machine often leaves some). Waiting here first leaves that drain nothing.
    """
    from prefect.events.worker import EventsWorker

    waiter = threading.Thread(target=EventsWorker.instance().wait_until_empty, daemon=True)
    waiter.start()
    waiter.join(timeout)  # an unreachable server must not hang the command; the exit drain still tries


def plan_lines(plan) -> list[str]:
    """What a dry run found: the bill before anything is paid."""
    cost = (
        "unknown (set the block's price_per_million_characters)"
        if plan.estimated_cost is None
        else f"{plan.estimated_cost:g}"
    )
    lines = [
        f"provider:           {plan.provider}",
        f"chunks:             {plan.chunks} ({plan.characters:,} characters)",
        f"already stored:     {plan.chunks_stored} chunks (nothing to pay)",
        f"to synthesize:      {plan.chunks_to_synthesize} chunks",
        f"characters to bill: {plan.characters_to_bill:,}",
        f"estimated cost:     {cost}",
    ]
    if plan.blocks_kept_from_older_cutting:
        lines.append(
            f"kept as cut before: {plan.blocks_kept_from_older_cutting} blocks (their chunks were stored by an older chunker)"
        )
    if plan.skipped:
        lines.append(f"skipped:            {len(plan.skipped)} blocks with nothing to speak")
    lines.append("nothing was paid: this was a dry run")
    return lines


def summary_lines(request, result) -> list[str]:
    """What the command prints once the run is done: the plan of a dry run, else where everything went."""
    if request.dry_run:
        return plan_lines(result)
    return [
        f"audio:     {result.audio} ({result.duration_seconds:.1f} s, {len(result.chunks)} chunks, "
        f"{result.chunks_cached} from the chunk store)",
        f"subtitles: {result.subtitles['srt']}  {result.subtitles['vtt']}",
        f"manifest:  {result.audio.rsplit('.', 1)[0]}.manifest.json",
    ]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "server":
        return server_command(argv[1:])
    parser = _parser()
    parser.epilog, parser.formatter_class = SERVER_HELP, argparse.RawDescriptionHelpFormatter
    args = parser.parse_args(argv)
    if (args.text is None) == (args.source is None):
        print("narrate: error: give a document or --text, not both and not neither", file=sys.stderr)
        return EXIT_BAD_INPUT
    _keep_prefect_files_out_of_home_dot_prefect()
    if not args.verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        # The run's own log records (a failure's traceback included) still reach the API and the UI; on the
        # terminal this command speaks for the run: a progress bar and one line for the outcome.
        for name in ("prefect.flow_runs", "prefect.task_runs"):
            logging.getLogger(name).propagate = False

    from tasks.errors import NarrationInputError

    try:
        request = build_request(args)
        precheck(request, local_engine=False)
    except ValidationError as error:
        print(f"narrate: error: {_validation_message(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NarrationInputError as error:
        print(f"narrate: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    show_progress = not args.quiet and sys.stderr.isatty()

    # A warm runner (flows/warm_runner.py) has Prefect imported already: this command then never imports it.
    # --verbose prints Prefect's logs on this terminal, so it runs here.
    target = None if args.verbose else _warm_target()
    served = None
    if target is not None:
        from flows.warm_runner import Outcome

        try:
            served = _run_warm(target, request, show_progress)
        except KeyboardInterrupt:  # the connection closed with it: the runner cancels the run
            print("narrate: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        if isinstance(served, Outcome):
            for line in served.stderr:
                print(line, file=sys.stderr)
            for line in served.stdout:
                print(line)
            return served.code

    try:
        check_local_engine(request)
    except NarrationInputError as error:
        print(f"narrate: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT

    from flows.local_server import LocalServerError

    try:
        connect_prefect()
    except LocalServerError as error:
        print(f"narrate: failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    if served is not None and served.start_one:
        from flows import warm_runner

        warm_runner.start(target)  # warms up at low priority while this run goes, for the next command
    try:
        manifest = _run(request, show_progress=show_progress)
    except NarrationInputError as error:
        print(f"narrate: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as error:  # the flow's failure, already logged by Prefect
        print(f"narrate: failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        deliver_events()
    for line in summary_lines(request, manifest):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
