"""Request checks shared by the routes, each failing as a `Rejection` the route renders in its shape."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from speech_audio.encodings import AudioKind
from tts_emulator.config import FaultRule
from tts_emulator.guard import SEQUENCE, STATE, Rejection, read_body
from tts_emulator.speech import render, silence


async def json_body(request: web.Request) -> dict[str, Any]:
    if not request.content_type.startswith("application/json"):
        raise Rejection(
            415, "unsupported_media_type", f"Content-Type must be application/json, not {request.content_type}"
        )
    try:
        body = json.loads(await read_body(request))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Rejection(400, "invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Rejection(400, "invalid_json", "The request body must be a JSON object.")
    return body


def required_text(body: dict[str, Any], field: str, limit: int) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise Rejection(400, "missing_required_parameter", f"'{field}' is required and must be non-empty text.", field)
    if len(value) > limit:
        raise Rejection(
            400, "string_above_max_length", f"'{field}' is {len(value)} characters; the maximum is {limit}.", field
        )
    return value


def one_of(value: Any, allowed: Iterable[str], field: str, status: int = 400) -> str:
    allowed = list(allowed)
    if value not in allowed:
        raise Rejection(
            status, "invalid_value", f"'{field}' must be one of {', '.join(allowed)}; got {value!r}.", field
        )
    return value


def number_in(value: Any, low: float, high: float, field: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise Rejection(400, "invalid_value", f"'{field}' must be a number from {low} to {high}; got {value!r}.", field)
    return float(value)


async def answer_audio(
    request: web.Request,
    route: str,
    fault: FaultRule | None,
    text: str,
    kind: AudioKind,
    rate: int,
    *,
    language: str,
    speed: float,
    request_id: str | None = None,
) -> bytes:
    """The audio to answer with: speech, or silence where that fault is due; tone timings go to the journal."""
    state = request.app[STATE]
    if fault is not None and fault.kind == "silence":
        state.route_stats(route).faults += 1
        return silence(kind, rate)
    rendered = await render(text, kind, rate, language=language, speed=speed, engine=state.config.speech)
    if rendered.sentences is not None:
        state.journal.record_timing(
            route, request[SEQUENCE], request_id=request_id, text=text, sample_rate=rate, sentences=rendered.sentences
        )
    return rendered.audio
