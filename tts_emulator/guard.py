"""What wraps every route: auth, counting, billing, latency, concurrency and rate limits, and injected faults.

A request goes through two stages, as at a real provider. Before its body is read: auth, the concurrency and
rate limits, and the faults `status` and `reset`; nothing is billed. Once the handler has read and validated
the body it calls `received`, which bills the request; after that point latency, `hang`,
`reset-after-receipt` and the content faults (`truncate`, `garbage`, `silence`) change what the client gets,
never what it pays.
"""

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
from tts_emulator.journal import readable_body
from tts_emulator.state import EmulatorState

STATE = web.AppKey("state", EmulatorState)
SEQUENCE = "tts_emulator.sequence"  # request keys: the request's number, and what the guard learnt of it
_ROUTE = "tts_emulator.route"
_FAULT = "tts_emulator.fault"
_BODY = "tts_emulator.body"
_PAID = "tts_emulator.paid"
_RECEIVED = "tts_emulator.received"

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


class ClientGone(Exception):
    """The client left (timed out, or its connection was reset) before it could be answered."""


def client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _wait(request: web.Request, seconds: float) -> None:
    """Sleep `seconds`, waking early when the client leaves: nobody is waiting for the answer then."""
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0 and not client_gone(request):
        await asyncio.sleep(min(left, 0.05))


async def read_body(request: web.Request) -> bytes:
    """The whole body, kept on the request so the journal records what was sent."""
    raw = await request.read()
    request[_BODY] = raw
    return raw


async def received(request: web.Request, characters: int | None) -> None:
    """The body is in whole and valid: bill it (`characters` None: a free route), then latency and late faults.

    From here on nothing the client or a fault does takes the charge back, as with a real provider. Raises
    ClientGone when the client left during the latency or a `hang`, or a `reset-after-receipt` cut it off.
    """
    state = request.app[STATE]
    route = request[_ROUTE]
    stats = state.route_stats(route)
    request[_RECEIVED] = True
    if characters is not None:
        stats.mark_paid(characters)
        request[_PAID] = True
    config = state.config.route(route)
    delay = config.latency_seconds + random.uniform(0, config.jitter_seconds)
    if delay > 0:
        await _wait(request, delay)
    fault: FaultRule | None = request.get(_FAULT)
    if fault is not None and fault.kind == "reset-after-receipt":
        stats.faults += 1
        reset_connection(request)
    elif fault is not None and fault.kind == "hang":
        stats.faults += 1
        await _wait(request, fault.seconds)
    if client_gone(request):
        raise ClientGone()


async def _admit(request: web.Request, route: str, shape: ErrorShape, handler: Handler) -> web.StreamResponse:
    """Limits and the faults that strike before the body is read; then the handler."""
    state = request.app[STATE]
    config = state.config.route(route)
    stats = state.route_stats(route)
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
    fault = state.next_fault(route)
    if fault is not None and fault.kind == "status":
        stats.faults += 1
        response = shape(fault.status, "injected", fault.message, None)
        response.headers.update(retry_after_header(fault.retry_after))
        return response
    if fault is not None and fault.kind == "reset":
        stats.faults += 1
        return reset_connection(request)
    request[_FAULT] = fault
    try:
        return await handler(request, fault)
    except Rejection as rejection:
        stats.rejected += 1
        if fault is not None and fault.times is not None and not request.get(_RECEIVED):
            fault.times += 1  # refused before the fault's stage: it stays due for the next request
        return shape(rejection.status, rejection.code, rejection.message, rejection.param)
    except ClientGone:
        stats.abandoned += 1
        return web.Response(status=499)  # never sent: there is nobody to send it to


async def _body_sent(request: web.Request) -> bytes | None:
    """For the journal: the body the handler read, or else the one the client sent; None if unreadable."""
    if _BODY in request:
        return request[_BODY]
    if not request.body_exists or client_gone(request):
        return None
    try:
        return await asyncio.wait_for(request.read(), timeout=1.0)
    except (TimeoutError, ConnectionError, web.HTTPException):
        return None


def _status_answered(request: web.Request, response: web.StreamResponse) -> int | None:
    """The status the client was sent (a truncated answer's too); None when it got no answer at all."""
    if response.status == 499:
        return None
    return response.status if response.prepared or not client_gone(request) else None


def guarded(route: str, shape: ErrorShape, *, auth: bool = True) -> Callable[[Handler], Callable]:
    """Wrap a handler of `route` with everything that is not the contract itself, and journal the request.

    The handler validates the request, then calls `received` (which bills it) before it answers.
    """

    def decorate(handler: Handler):
        @wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            state = request.app[STATE]
            stats = state.route_stats(route)
            stats.requests += 1
            request[_ROUTE] = route
            request[SEQUENCE] = state.next_sequence()
            if auth and not _authorized(request, state.config.access_key):
                stats.rejected += 1
                response = shape(401, "invalid_api_key", "Invalid or missing access key.", None)
            else:
                stats.arrive()
                try:
                    response = await _admit(request, route, shape, handler)
                finally:
                    stats.leave()
            state.journal.record_request(
                route,
                request[SEQUENCE],
                method=request.method,
                path=request.path,
                query=request.query,
                headers=request.headers,
                body=readable_body(await _body_sent(request), request.content_type),
                status=_status_answered(request, response),
                paid=request.get(_PAID, False),
            )
            return response

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
    """Answer audio, or the content fault due: truncated, garbage, or silence prepared by the caller.

    Call it after `received`: the request is billed already; only a whole answer counts as served.
    """
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
    if client_gone(request):
        raise ClientGone()
    stats.mark_served(characters)
    return web.Response(body=audio, content_type=content_type, headers=headers)
