"""`make bench`: every benchmark of the benchmarks issue, against the emulator on loopback, as one table.

Timed figures are wall time with Prefect already started (B1, B3–B5 run after a warm-up flow);
start-up is B6's figure alone. Run `python -m benchmarks.bench --only B1,B2` for a subset and
`--smoke` for a small, fast run of each.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks.rows import Row

ROOT = Path(__file__).resolve().parents[1]
if "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="narration-bench-prefect-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")


def _paragraphs(count: int, size: int = 60) -> list[str]:
    base = "Paragraph {i} of the benchmark document, spoken by the emulator at speed."
    return [
        (base.format(i=i) + " " + "More words follow here. " * 40)[:size].rsplit(" ", 1)[0] + "." for i in range(count)
    ]


async def _raw_client(url: str, texts: list[str], concurrency: int) -> float:
    """The plain alternative: asyncio + httpx, same requests, same concurrency, nothing else."""
    import httpx

    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": "Bearer emulator-key"}, limits=limits, timeout=60
    ) as client:

        async def one(i: int, text: str) -> None:
            body = {"text": text, "model_id": "eleven_multilingual_v2"}
            if i > 0:
                body["previous_text"] = texts[i - 1]
            if i + 1 < len(texts):
                body["next_text"] = texts[i + 1]
            async with slots:
                response = await client.post(
                    "/tts-e/text-to-speech/JBFqnCBsd6RMkjVDRZzb", params={"output_format": "pcm_16000"}, json=body
                )
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(i, t) for i, t in enumerate(texts)))
        return time.perf_counter() - started


def _sentences(count: int) -> list[str]:
    """Distinct sentences of varied length, as in prose."""
    words = "river stone cloud lamp keeper harbour signal winter ship tide beam clock lens island".split()
    return [
        " ".join(words[(i * 7 + j * 3) % len(words)] for j in range(4 + (i * 5) % 17)).capitalize() + f" number {i}."
        for i in range(count)
    ]


def _narrate(**fields):
    from flows.narrate import narrate
    from flows.parameters import NarrationRequest

    started = time.perf_counter()
    manifest = asyncio.run(narrate(NarrationRequest(**fields)))
    return time.perf_counter() - started, manifest


def _ele_block(emulator, name: str, **fields) -> str:
    from blocks import MaasEle

    options = {
        "endpoint": emulator.url,
        "access_key": "emulator-key",
        "output_format": "pcm_16000",
        "chunk_characters": 1500,
    } | fields
    MaasEle(**options).save(name, overwrite=True)
    return f"maas-ele/{name}"


def _warm_up_provider(emulator) -> None:
    """A few chunks through the emulator's provider before B1's rows, the same for both.

    Its one-off costs in a process (the HTTP engine's first use, its TLS context, the first answers decoded
    and measured) are start-up, not orchestration: without this, whichever row ran first paid them.
    """
    emulator.reset()
    provider = _ele_block(emulator, "b1-warm-up", max_concurrency=16)
    texts = [f"A warm-up sentence, number {i}, spoken before the benchmark." for i in range(8)]
    with tempfile.TemporaryDirectory() as out:
        _narrate(text="\n\n".join(texts), provider=provider, output=out, format="wav", sample_rate=16000)


def _warm_up_emulator(emulator, texts: list[str]) -> None:
    """One unmeasured pass of the raw client over the benchmark's texts.

    The emulator caches the waveforms of the speech it makes (its own work, not the client's), so
    the first pass over a set of texts costs it more CPU than every later one: 1.8 CPU-s against 0.9-1.1
    for these 400 texts, on the same two cores as the client. Without this pass the first row's flow met
    a cold emulator and every raw run a warm one.
    """
    emulator.reset()
    emulator.set_route("ele", latency_seconds=0.5)
    asyncio.run(_raw_client(emulator.url, texts, 16))


def b1(emulator, smoke: bool) -> list[Row]:
    chunks = 40 if smoke else 400
    texts = _paragraphs(chunks)
    _warm_up_provider(emulator)
    _warm_up_emulator(emulator, texts)
    emulator.reset()
    emulator.set_route("ele", latency_seconds=0.5)
    rows = []
    for global_limits in (True, False):
        provider = _ele_block(
            emulator, f"b1-{str(global_limits).lower()}", max_concurrency=16, global_limits=global_limits
        )
        with tempfile.TemporaryDirectory() as out:
            flow_seconds, manifest = _narrate(
                text="\n\n".join(texts), provider=provider, output=out, format="wav", sample_rate=16000
            )
        assert len(manifest.chunks) == chunks and manifest.chunks_cached == 0
        raw_seconds = asyncio.run(_raw_client(emulator.url, texts, 16))
        ratio = flow_seconds / raw_seconds
        label = "with" if global_limits else "without"
        rows.append(
            Row(
                f"B1 flow/raw, {chunks} chunks, 500 ms, c=16, {label} global limits",
                "≤ 1.08",
                f"{ratio:.3f} ({flow_seconds:.1f} s / {raw_seconds:.1f} s)",
                ratio <= 1.08,
            )
        )
    return rows


def b2(smoke: bool) -> list[Row]:
    from tasks.text.chunking import content_chunks
    from tasks.text.documents import document_from_text

    size = 1_000_000 if smoke else 10_000_000
    english = 'Dr. Smith went to Washington. He said, "It\'s 3.5 miles away!" Was it? Yes... it was. ' * 12 + "\n\n"
    chinese = "今天天气很好。我们去公园散步吧！你觉得怎么样？好的；那就走吧……" * 12 + "\n\n"
    rows = []
    for name, base in (("English", english), ("Chinese", chinese)):
        repeat = size // len(base.encode()) + 1
        text = (base * repeat).encode()[:size].decode(errors="ignore")
        started = time.perf_counter()
        document = document_from_text(text)  # read as plain text, then cut block by block
        chunks = [chunk for block in document.blocks for chunk in content_chunks(block.text, 1500)]
        seconds = time.perf_counter() - started
        rows.append(
            Row(
                f"B2 reading and chunking {size / 1e6:.0f} MB {name} ({len(chunks):,} chunks)",
                "≤ 2 s",
                f"{seconds:.2f} s",
                seconds <= 2,
            )
        )
    return rows


def _peak_rss_of_cli(args: list[str], env: dict) -> tuple[float, float, float, float]:
    """(peak RSS, peak anonymous RSS, peak file-backed RSS in MB, seconds) of one `narrate` command, measured
    by a small launcher (benchmarks/peak_rss.py says why not from this process, and why the parts)."""
    started = time.perf_counter()
    launched = subprocess.run(
        [sys.executable, "-m", "benchmarks.peak_rss", sys.executable, "-m", "flows.cli", *args, "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if launched.returncode != 0:
        raise RuntimeError(f"narrate failed ({launched.returncode}): {launched.stderr[-2000:]}")
    peak, anonymous, files = (int(kb) / 1024 for kb in launched.stdout.split())
    return peak, anonymous, files, time.perf_counter() - started


def b3(emulator, server, smoke: bool) -> list[Row]:
    emulator.reset(routes=True)  # a plain provider: no rate limit left from the rows before
    emulator.configure(speech="tone")
    server.python(
        f"from blocks import MaasEle; MaasEle(endpoint={emulator.url!r}, access_key='emulator-key', "
        "output_format='pcm_16000', chunk_characters=1500, max_concurrency=8).save('b3', overwrite=True)"
    )
    results = {}
    hours_list = (0.2, 2.0) if smoke else (2.0, 20.0)
    for hours in hours_list:
        characters = int(hours * 3600 * 15)
        paragraph = "The fast emulator answers every request with a tone as long as the text. " * 20
        with tempfile.TemporaryDirectory() as folder:
            source = Path(folder) / "book.txt"
            count = characters // len(paragraph) + 1
            source.write_text("\n\n".join(f"{i}. {paragraph}" for i in range(count)))
            rss, anonymous, files, seconds = _peak_rss_of_cli(
                [
                    str(source),
                    "--provider",
                    "maas-ele/b3",
                    "--out",
                    str(Path(folder) / "out"),
                    "--format",
                    "wav",
                    "--sample-rate",
                    "16000",
                ],
                {**server.env, "NARRATION_WARM_RUNNER": "0"},  # measure the process that does the work
            )
        results[hours] = (rss, seconds, f"(peaks: own memory {anonymous:.0f}, library and file pages {files:.0f})")
    (h1, (r1, s1, parts1)), (h2, (r2, s2, parts2)) = results.items()
    growth = (r2 - r1) / r1
    return [
        Row(f"B3 peak RSS, {h1:g} h document ({s1:.0f} s)", "≤ 200 MB", f"{r1:.0f} MB {parts1}", r1 <= 200),
        Row(
            f"B3 peak RSS, {h2:g} h document ({s2:.0f} s)",
            "≤ 200 MB, ≤ +15 %",
            f"{r2:.0f} MB ({growth:+.0%}) {parts2}",
            r2 <= 200 and growth <= 0.15,
        ),
    ]


def b4(emulator, smoke: bool) -> list[Row]:
    emulator.reset()
    emulator.configure(speech="tone")
    emulator.set_route("ele", latency_seconds=0.5)
    chunks = 40 if smoke else 200
    provider = _ele_block(emulator, "b4", max_concurrency=8, send_context=False)
    paragraphs = _paragraphs(chunks, 120)
    with tempfile.TemporaryDirectory() as out:
        first, _ = _narrate(text="\n\n".join(paragraphs), provider=provider, output=out, name="doc")
        emulator.reset()
        emulator.set_route("ele", latency_seconds=0.5)
        paragraphs[chunks // 2] = "This paragraph was edited after the first narration."
        second, manifest = _narrate(text="\n\n".join(paragraphs), provider=provider, output=out, name="doc")
    paid = emulator.served("ele")
    share = second / first
    return [
        Row(
            f"B4 re-run after one edit, {chunks} chunks",
            "≤ 3 chunks, ≤ 15 % of first",
            f"{paid} chunks, {share:.0%} ({second:.1f} s / {first:.1f} s)",
            paid <= 3 and share <= 0.15,
        )
    ]


def b5(emulator, smoke: bool) -> list[Row]:
    chunks = 60 if smoke else 300
    rows = []
    for rate in (None, 10.0):
        emulator.reset()
        emulator.configure(speech="tone")
        emulator.set_route("ele", rate_per_second=10)
        provider = _ele_block(
            emulator, f"b5-{int(rate or 0)}", max_concurrency=16, requests_per_second=rate, max_attempts=20
        )
        with tempfile.TemporaryDirectory() as out:
            seconds, manifest = _narrate(
                text="\n\n".join(_paragraphs(chunks)), provider=provider, output=out, format="wav", sample_rate=16000
            )
        stats = emulator.stats("ele")
        served = stats["served"]
        throughput = (served - 1) / stats["served_span_seconds"]  # sustained: first to last paid answer
        label = "Prefect rate limit 10/s" if rate else "no client-side rate"
        rows.append(
            Row(
                f"B5 {chunks} chunks at 10 req/s, {label} ({emulator.stats('ele')['throttled']} × 429)",
                "0 failed, ≥ 8.5 req/s",
                f"{len(manifest.chunks) - served} failed, {throughput:.2f} req/s",
                served == len(manifest.chunks) and throughput >= 8.5,
            )
        )
    return rows


def _timed_cli(args: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def _wait_for_warm_runner(env: dict, timeout: float = 600.0) -> float:
    """Seconds until `narrate server status` shows a ready warm runner (the first command started it)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        shown = subprocess.run(
            [sys.executable, "-m", "flows.cli", "server", "status"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        if any(line.startswith("runner:") and ", ready," in line for line in shown.stdout.splitlines()):
            return time.perf_counter() - started
        time.sleep(0.25)
    raise RuntimeError(f"no warm runner was ready within {timeout:.0f} s")


def b6(server, smoke: bool) -> list[Row]:
    """narrate --text "Hello.": the first command on a fresh machine (it starts the local background server
    and, in the background, a warm runner), later commands (run by that runner, once `narrate server status`
    shows it ready: the wait is reported, not timed), and commands against an external server (no runner)."""
    runs = 2 if smoke else 5
    hello = ["--text", "Hello.", "--quiet", "--out"]
    fresh_home = tempfile.mkdtemp(prefix="narration-bench-fresh-")
    local = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {
        "PREFECT_HOME": fresh_home,
        "XDG_DATA_HOME": fresh_home,
    }
    try:
        with tempfile.TemporaryDirectory() as out:
            first = _timed_cli([*hello, out], local)
        warming = _wait_for_warm_runner(local)
        later = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as out:
                later.append(_timed_cli([*hello, out], local))
    finally:
        subprocess.run([sys.executable, "-m", "flows.cli", "server", "stop"], cwd=ROOT, env=local, capture_output=True)
    external = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            external.append(_timed_cli([*hello, out], server.env))
    later_median, external_median = statistics.median(later), statistics.median(external)
    spread = lambda times: f"{min(times):.2f}–{max(times):.2f}"  # noqa: E731
    return [
        Row(
            'B6 narrate --text "Hello.", first command on a fresh machine (starts the local server and a warm runner)',
            "report",
            f"{first:.1f} s (runner ready {warming:.1f} s after it ended)",
            None,
        ),
        Row(
            f'B6 narrate --text "Hello.", later commands (warm runner ready), median of {runs}',
            "≤ 3.0 s",
            f"{later_median:.2f} s ({spread(later)})",
            later_median <= 3.0,
        ),
        Row(
            f'B6 narrate --text "Hello.", external server, median of {runs}',
            "report",
            f"{external_median:.2f} s ({spread(external)})",
            None,
        ),
    ]


def b4b(emulator, smoke: bool) -> list[Row]:
    """One sentence inserted at the 10th position of a 300-sentence paragraph: what is paid again."""
    emulator.reset()
    emulator.configure(speech="tone")
    sentences = _sentences(60 if smoke else 300)
    rows = []
    for label, fields in (("context-free", {"send_context": False}), ("MaaS-Ele context on", {"send_context": True})):
        paid = []
        for trial in range(3):
            provider = _ele_block(emulator, f"b4b-{trial}-{int(fields['send_context'])}", max_concurrency=8, **fields)
            ordered = sentences[trial:] + sentences[:trial]  # three trials, three documents
            inserted = [*ordered[:10], "An inserted sentence arrives here unannounced.", *ordered[10:]]
            with tempfile.TemporaryDirectory() as out:
                _narrate(text=" ".join(ordered), provider=provider, output=out, name="doc", format="wav")
                emulator.reset()
                _narrate(text=" ".join(inserted), provider=provider, output=out, name="doc", format="wav")
                paid.append(emulator.served("ele"))
        median = statistics.median(paid)
        target = "≤ 3 chunks" if label == "context-free" else "report"
        rows.append(
            Row(
                f"B4b one sentence inserted at the 10th of {len(sentences)} in one paragraph, {label}, median of 3",
                target,
                f"{median:g} chunks ({', '.join(map(str, paid))})",
                median <= 3 if label == "context-free" else None,
            )
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="B1,B2,B3,B4,B4B,B5,B6,B7")
    parser.add_argument("--smoke", action="store_true", help="small sizes: checks every benchmark runs")
    args = parser.parse_args()
    wanted = set(args.only.upper().split(","))
    from benchmarks import fleet
    from tests.graceful_stop import stop_like_ctrl_c_on_sigterm
    from tests.prefect_server import PrefectServer
    from tts_emulator.process import EmulatorProcess

    stop_like_ctrl_c_on_sigterm()  # stopped by `timeout` or `kill`, it still stops its servers
    emulator = server = None
    rows: list[Row] = []
    try:
        emulator = EmulatorProcess("--speech", "tone")
        server = PrefectServer() if wanted & {"B3", "B6"} else None
        if "B2" in wanted:
            rows += _row_or_error("B2", b2, args.smoke)
        if wanted & {"B1", "B4", "B4B", "B5"}:
            _narrate(text="Warm-up.", output=tempfile.mkdtemp())  # starts Prefect: its start-up is B6's figure
        if "B1" in wanted:
            rows += _row_or_error("B1", b1, emulator, args.smoke)
        if "B4" in wanted:
            rows += _row_or_error("B4", b4, emulator, args.smoke)
        if "B4B" in wanted:
            rows += _row_or_error("B4b", b4b, emulator, args.smoke)
        if "B5" in wanted:
            rows += _row_or_error("B5", b5, emulator, args.smoke)
        if "B3" in wanted:
            rows += _row_or_error("B3", b3, emulator, server, args.smoke)
        if "B6" in wanted:
            rows += _row_or_error("B6", b6, server, args.smoke)
        if "B7" in wanted:  # its own servers, databases and emulator, started and stopped inside
            rows += _row_or_error("B7", fleet.b7, args.smoke)
    finally:
        if emulator:
            emulator.stop()
        if server:
            server.stop()
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}"
    )
    print("| figure | target | measured | pass |\n|---|---|---|---|")
    for row in rows:
        verdict = "report" if row.passed is None else ("pass" if row.passed else "FAIL")
        print(f"| {row.figure} | {row.target} | {row.measured} | {verdict} |")
    return 1 if any(row.passed is False for row in rows) else 0


def _row_or_error(name: str, benchmark, *args) -> list[Row]:
    """A benchmark's rows; one that fails to run is a failed row, and the others still run and are printed."""
    try:
        return benchmark(*args)
    except Exception as error:  # noqa: BLE001 - reported in the table, and the exit status says so
        traceback.print_exc()
        return [Row(f"{name} did not complete", "runs", f"{type(error).__name__}: {str(error)[-300:]}", False)]


if __name__ == "__main__":
    sys.exit(main())
