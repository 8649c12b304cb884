"""`tts-emulator`: serve every provider contract on 127.0.0.1 for tests, demos and benchmarks."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from aiohttp import web

from tts_emulator.app import create_app
from tts_emulator.config import ROUTES, EmulatorConfig, FaultRule


def _fault(spec: str) -> tuple[str, FaultRule]:
    """ROUTE:KIND[:key=value,...], e.g. ele:status:status=429,retry_after=2,times=3."""
    route, kind, *rest = spec.split(":", 2)
    options = dict(item.split("=", 1) for item in rest[0].split(",")) if rest and rest[0] else {}
    if "times" in options and options["times"] in ("always", "none"):
        options["times"] = None
    return route, FaultRule(kind=kind, **options)


def _route_value(spec: str) -> tuple[str, float]:
    route, value = spec.split(":", 1)
    return route, float(value)


def build_config(args: argparse.Namespace) -> EmulatorConfig:
    config = EmulatorConfig.model_validate(json.loads(open(args.config).read())) if args.config else EmulatorConfig()
    config.access_key = args.key or config.access_key
    config.speech = args.speech or config.speech
    if args.job_seconds is not None:
        config.job_seconds = args.job_seconds
    if args.result_ttl is not None:
        config.result_ttl_seconds = args.result_ttl
    for spec in args.fault:
        route, rule = _fault(spec)
        config.route(route).faults.append(rule)
    for spec in args.latency:
        route, value = _route_value(spec)
        config.route(route).latency_seconds = value
    for spec in args.rate:
        route, value = _route_value(spec)
        config.route(route).rate_per_second = value
    for spec in args.concurrency:
        route, value = _route_value(spec)
        config.route(route).max_concurrency = int(value)
    return config


async def serve(config: EmulatorConfig, host: str, port: int) -> None:
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # the real port when 0 was asked for
    print(f"tts-emulator listening on http://{host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tts-emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700, help="0 picks a free port (printed at start)")
    parser.add_argument("--key", help="the access key clients must send (default: emulator-key)")
    parser.add_argument("--speech", choices=["espeak", "tone"], help="real speech (default) or a fast tone")
    parser.add_argument("--job-seconds", type=float, help="how long a long job takes")
    parser.add_argument("--result-ttl", type=float, help="seconds a long job's result URL stays valid")
    parser.add_argument("--config", help="a JSON EmulatorConfig file")
    parser.add_argument("--fault", action="append", default=[], help=f"ROUTE:KIND[:k=v,…]; routes: {', '.join(ROUTES)}")
    parser.add_argument("--latency", action="append", default=[], help="ROUTE:SECONDS")
    parser.add_argument("--rate", action="append", default=[], help="ROUTE:REQUESTS_PER_SECOND")
    parser.add_argument("--concurrency", action="append", default=[], help="ROUTE:MAX_IN_FLIGHT")
    args = parser.parse_args(argv)
    asyncio.run(serve(build_config(args), args.host, args.port))


if __name__ == "__main__":
    main()
