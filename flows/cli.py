"""`narrate`: run the narrate flow from a shell, with a progress bar, and say where the audio went.

Input is checked before Prefect starts (an ephemeral start costs seconds), so a typo fails fast
with the field and the limit named; the flow checks the same things again for UI and API runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from pydantic import ValidationError

from speech_audio.encodings import OutputFormat

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


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
        sample_rate=args.sample_rate,
        chunk_store=args.chunk_store,
        storage=args.storage,
    )


def precheck(request) -> None:
    """What can be checked without Prefect: the text, the output, and the local engine's voice and speed.

    With a storage block the credentials are in Prefect, so the flow checks source and output itself.
    """
    from tasks.models import text_sha256
    from tasks.output.location import check_writable, name_for
    from tasks.text.intake import load_document

    if request.storage and request.source is not None:
        return  # the source and output open with the storage block's credentials: the flow checks them
    document = load_document(request.text, request.source, request.input_format, request.document_options)
    name_for(request.source, text_sha256(document.spoken_text()), request.name)
    if not request.storage:
        check_writable(request.output)
    if request.provider == "local-speech":
        from blocks.local_speech import LocalSpeech
        from tasks.synthesis.providers import engine_for

        asyncio.run(engine_for(LocalSpeech(), request.voice, request.speed).prepare())


def _run(request, show_progress: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from flows.narrate import narrate
    from tasks.output import progress as run_progress

    if not show_progress:
        return asyncio.run(narrate(request))
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

        run_progress.add_listener(on_progress)
        try:
            return asyncio.run(narrate(request))
        finally:
            run_progress.remove_listener(on_progress)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if (args.text is None) == (args.source is None):
        print("narrate: error: give a document or --text, not both and not neither", file=sys.stderr)
        return EXIT_BAD_INPUT
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if not args.verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

    from tasks.errors import NarrationInputError

    try:
        request = build_request(args)
        precheck(request)
    except ValidationError as error:
        print(f"narrate: error: {_validation_message(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NarrationInputError as error:
        print(f"narrate: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT

    try:
        manifest = _run(request, show_progress=not args.quiet and sys.stderr.isatty())
    except NarrationInputError as error:
        print(f"narrate: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as error:  # the flow's failure, already logged by Prefect
        print(f"narrate: failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"audio:     {manifest.audio} ({manifest.duration_seconds:.1f} s, {len(manifest.chunks)} chunks, "
        f"{manifest.chunks_cached} from the chunk store)"
    )
    print(f"subtitles: {manifest.subtitles['srt']}  {manifest.subtitles['vtt']}")
    print(f"manifest:  {manifest.audio.rsplit('.', 1)[0]}.manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
