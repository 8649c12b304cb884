"""What wraps every route: auth, counting, latency, concurrency and rate limits, and injected faults."""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from functools import wraps

from aiohttp import web

from tts_emulator.config import FaultRule
from tts_emulator.state import EmulatorState

STATE = web.AppKey("state", EmulatorState)

ErrorShape = Callable[[int, str, str, str | None], web.Response]
Handler = Callable[[web.Request, FaultRule | None], Awaitable[web.StreamResponse]]


class Rejection(Exception):
    """A request the real service would refuse; the route's error shape renders it."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param


def openai_error(status: int, code: str, message: str, param: str | None = None) -> web.Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return web.json_response({"error": {"message": message, "type": kind, "param": param, "code": code}}, status=status)


def ele_error(status: int, code: str, message: str, param: str | None = None) -> web.Response:
    return web.json_response({"detail": {"status": code, "message": message}}, status=status)


def nar_error(status: int, code: str, message: str, param: str | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def retry_after_header(value: str | None) -> dict[str, str]:
    """'3' → Retry-After: 3; 'date:3' → an HTTP-date 3 s from now."""
    if value is None:
        return {}
    if value.startswith("date:"):
        when = time.time() + float(value.removeprefix("date:"))
        return {"Retry-After": email.utils.formatdate(math.ceil(when), usegmt=True)}
    return {"Retry-After": value}


def reset_connection(request: web.Request) -> web.Response:
    """Abort the TCP connection with a reset (SO_LINGER 0), as a crashed proxy would."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=500)


def _authorized(request: web.Request, key: str) -> bool:
    return request.headers.get("Authorization", "") == f"Bearer {key}"


def guarded(route: str, shape: ErrorShape, *, auth: bool = True) -> Callable[[Handler], Callable]:
    """Wrap a handler of `route` with everything that is not the contract itself."""

    def decorate(handler: Handler):
        @wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            state = request.app[STATE]
            config = state.config.route(route)
            stats = state.route_stats(route)
            stats.requests += 1
            if auth and not _authorized(request, state.config.access_key):
                stats.rejected += 1
                return shape(401, "invalid_api_key", "Invalid or missing access key.", None)
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
            try:
                if config.max_concurrency and stats.in_flight > config.max_concurrency:
                    stats.throttled += 1
                    response = shape(429, "too_many_concurrent_requests", "Too many concurrent requests.", None)
                    response.headers["Retry-After"] = "1"
                    return response
                wait = state.rate_limited(route)
                if wait is not None:
                    stats.throttled += 1
                    response = shape(429, "rate_limit_exceeded", "Rate limit exceeded.", None)
                    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                    return response
                delay = config.latency_seconds + random.uniform(0, config.jitter_seconds)
                if delay > 0:
                    await asyncio.sleep(delay)
                fault = state.next_fault(route)
                if fault is not None and fault.kind in {"status", "reset", "hang"}:
                    stats.faults += 1
                    if fault.kind == "status":
                        response = shape(fault.status, "injected", fault.message, None)
                        response.headers.update(retry_after_header(fault.retry_after))
                        return response
                    if fault.kind == "reset":
                        return reset_connection(request)
                    await asyncio.sleep(fault.seconds)
                    if request.transport is None or request.transport.is_closing():
                        return web.Response(status=499)  # the client gave up: nothing delivered, nothing paid
                    fault = None
                try:
                    return await handler(request, fault)
                except Rejection as rejection:
                    stats.rejected += 1
                    return shape(rejection.status, rejection.code, rejection.message, rejection.param)
            finally:
                stats.in_flight -= 1

        return wrapper

    return decorate


async def send_audio(
    request: web.Request,
    route: str,
    audio: bytes,
    content_type: str,
    fault: FaultRule | None,
    headers: dict[str, str] | None = None,
    characters: int = 0,
) -> web.StreamResponse:
    """Answer audio, or the content fault due: truncated, garbage, or silence prepared by the caller."""
    stats = request.app[STATE].route_stats(route)
    if fault is not None and fault.kind in {"truncate", "garbage"}:
        stats.faults += 1
        if fault.kind == "garbage":
            return web.Response(
                body=random.randbytes(max(64, len(audio) // 4)), content_type=content_type, headers=headers
            )
        response = web.StreamResponse(status=200, headers=headers)
        response.content_type = content_type
        response.content_length = len(audio)
        await response.prepare(request)
        await response.write(audio[: len(audio) // 2])
        if request.transport is not None:
            request.transport.abort()
        return response
    stats.mark_served(characters)
    return web.Response(body=audio, content_type=content_type, headers=headers)
