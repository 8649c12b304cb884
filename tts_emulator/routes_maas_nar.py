"""MaaS-nar text-to-speech: short requests answer audio; long ones are jobs with a status URL.

Billed: a short request, and a long job at submission (once, however often its status is polled or its result
fetched, and even when the answer carrying its task id never reaches the client). A subtitle body is billed
its cue text, not its numbers and timings.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

from aiohttp import web

from speech_audio.codec import decoded_samples
from speech_audio.encodings import AudioEncoding, AudioKind
from tts_emulator.config import FaultRule
from tts_emulator.guard import SEQUENCE, STATE, Rejection, guarded, nar_error, read_body, received, send_audio
from tts_emulator.speech import render, silence
from tts_emulator.validation import answer_audio, one_of

NAR_VOICES = {"Yifei": "cmn", "Xiaomo": "cmn", "Yunyang": "cmn", "Jenny": "en-us", "Guy": "en-us", "Aria": "en-us"}
SPEEDS = {"fast": 1.3, "normal": 1.0, "slow": 0.75}
VOLUMES = ("x-loud", "loud", "standard", "soft", "x-soft", "normalized")
SHORT_FORMATS = ("mp3", "m4a")
LONG_FORMATS = ("mp3", "m4a", "wav")
BODY_TYPES = ("text/plain", "application/x-www-form-urlencoded", "text/vtt", "application/x-subrip", "text/srt")
MEDIA_TYPES = {"mp3": "audio/mpeg", "m4a": "audio/mp4", "wav": "audio/wav"}
RATE = 24_000
_SIGNING_KEY = uuid.uuid4().bytes
JOBS = web.AppKey("jobs", dict)


@dataclass
class Job:
    task_id: str
    text: str
    kind: AudioKind
    language: str
    speed: float
    created: float
    sequence: int  # the submission's number in the journal
    fail: bool = False
    silent: bool = False  # the job "succeeds" with a result of pure silence
    audio: bytes | None = None
    duration: float = 0.0
    polls: int = 0
    downloads: int = field(default=0)


def _speed(value: str | None) -> float:
    if value is None:
        return 1.0
    if value in SPEEDS:
        return SPEEDS[value]
    try:
        number = float(value)
    except ValueError:
        raise Rejection(
            400, "InvalidVoiceSpeed", f"voice-speed must be fast, normal, slow or 0.3 to 2; got {value!r}."
        ) from None
    if not 0.3 <= number <= 2.0:
        raise Rejection(400, "InvalidVoiceSpeed", f"voice-speed must be between 0.3 and 2; got {value}.")
    return number


def _subtitle_text(body: str) -> str:
    lines = [
        line.strip()
        for line in body.splitlines()
        if line.strip() and "-->" not in line and not line.strip().isdigit() and not line.startswith("WEBVTT")
    ]
    return " ".join(lines)


async def _text_of(request: web.Request, route: str) -> str:
    """The text to speak, after checking that the body is what its Content-Type says."""
    content_type = request.content_type
    request.app[STATE].route_stats(route).note(content_type)
    if content_type not in BODY_TYPES:
        raise Rejection(
            415, "UnsupportedMediaType", f"Content-Type must be one of {', '.join(BODY_TYPES)}; got {content_type!r}."
        )
    raw = await read_body(request)
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejection(400, "InvalidEncoding", "The body must be UTF-8.") from None
    if content_type == "application/x-www-form-urlencoded":
        if any(ch.isspace() or ord(ch) > 127 for ch in body):
            raise Rejection(
                400, "InvalidBody", "The body is not URL-encoded (it holds raw spaces or non-ASCII characters)."
            )
        text = urllib.parse.unquote_plus(body)
    elif content_type == "text/vtt":
        if not body.lstrip("\ufeff").startswith("WEBVTT"):
            raise Rejection(400, "InvalidBody", "A text/vtt body must be a WebVTT file starting with 'WEBVTT'.")
        text = _subtitle_text(body)
    elif content_type in ("application/x-subrip", "text/srt"):
        if "-->" not in body or body.lstrip().startswith("WEBVTT"):
            raise Rejection(400, "InvalidBody", "An SRT body must hold numbered cues with 'start --> end' timings.")
        text = _subtitle_text(body)
    else:
        text = body
    if not text.strip():
        raise Rejection(400, "EmptyText", "There is no text to speak.")
    return text


def _query(request: web.Request, formats: tuple[str, ...]) -> tuple[AudioKind, str, float]:
    fmt = one_of(request.match_info["format"], formats, "responseFormat")
    voice = one_of(request.query.get("voice", "Yifei"), NAR_VOICES, "voice")
    one_of(request.query.get("voice-volume", "standard"), VOLUMES, "voice-volume")
    return AudioKind(fmt), NAR_VOICES[voice], _speed(request.query.get("voice-speed"))


@guarded("nar-short", nar_error)
async def nar_short(request: web.Request, fault: FaultRule | None) -> web.StreamResponse:
    kind, language, speed = _query(request, SHORT_FORMATS)
    text = await _text_of(request, "nar-short")
    limit = request.app[STATE].config.nar_short_max_characters
    if len(text) > limit:
        raise Rejection(413, "TextTooLong", f"The text is {len(text)} characters; short requests take at most {limit}.")
    await received(request, len(text))
    audio = await answer_audio(request, "nar-short", fault, text, kind, RATE, language=language, speed=speed)
    seconds = decoded_samples(audio, AudioEncoding(kind=kind), RATE) / RATE
    headers = {"x-duration-seconds": f"{seconds:.3f}"}
    return await send_audio(request, "nar-short", audio, MEDIA_TYPES[kind.value], fault, headers, characters=len(text))


@guarded("nar-submit", nar_error)
async def nar_submit(request: web.Request, fault: FaultRule | None) -> web.Response:
    kind, language, speed = _query(request, LONG_FORMATS)
    text = await _text_of(request, "nar-submit")
    state = request.app[STATE]
    if len(text) > state.config.nar_long_max_characters:
        raise Rejection(
            413,
            "TextTooLong",
            f"The text is {len(text)} characters; the maximum is {state.config.nar_long_max_characters}.",
        )
    kind_of_fault = fault.kind if fault is not None else None
    job = Job(
        uuid.uuid4().hex,
        text,
        kind,
        language,
        speed,
        time.monotonic(),
        request[SEQUENCE],
        fail=kind_of_fault == "fail-job",
        silent=kind_of_fault == "silence",
    )
    stats = state.route_stats("nar-submit")
    if job.fail or job.silent:
        stats.faults += 1
    request.app[JOBS][job.task_id] = job  # the job exists (and is billed) even if its task id is lost on the way
    await received(request, len(text))
    origin = f"{request.scheme}://{request.host}"
    if fault is not None and fault.kind == "foreign-status-url":
        stats.faults += 1
        origin = "http://169.254.169.254"
    stats.mark_served(len(text))
    return web.json_response({"statusUrl": f"{origin}/tts-n/tasks/{job.task_id}", "taskId": job.task_id})


async def text_to_speech(request: web.Request) -> web.StreamResponse:
    """With `Accept: application/octet-stream` a short request, without it a long job."""
    if request.headers.get("Accept") == "application/octet-stream":
        return await nar_short(request)
    return await nar_submit(request)


def _signature(task_id: str, expires: int) -> str:
    return hmac.new(_SIGNING_KEY, f"{task_id}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]


@guarded("nar-status", nar_error, auth=False)
async def nar_status(request: web.Request, fault: FaultRule | None) -> web.Response:
    state = request.app[STATE]
    await received(request, None)  # free: latency and late faults only
    job = request.app[JOBS].get(request.match_info["task_id"])
    if job is None:
        raise Rejection(404, "TaskNotFound", "No such task.")
    if fault is not None and fault.kind == "malformed-status":
        state.route_stats("nar-status").faults += 1
        return web.Response(text="<html><body>502 Bad Gateway</body>", content_type="application/json")
    job.polls += 1
    elapsed = time.monotonic() - job.created
    percent = min(100, int(100 * elapsed / max(state.config.job_seconds, 1e-6)))
    if elapsed < state.config.job_seconds:
        return web.json_response(
            {
                "finished": False,
                "percent": percent,
                "succeeded": False,
                "result": None,
                "message": "",
                "durationInSeconds": 0,
            }
        )
    if job.fail:
        return web.json_response(
            {
                "finished": True,
                "percent": 100,
                "succeeded": False,
                "result": None,
                "message": "Synthesis failed: the voice engine stopped (injected).",
                "durationInSeconds": 0,
            }
        )
    if job.audio is None and job.silent:
        job.audio = silence(job.kind, RATE)
    elif job.audio is None:
        rendered = await render(
            job.text, job.kind, RATE, language=job.language, speed=job.speed, engine=state.config.speech
        )
        job.audio = rendered.audio
        if rendered.sentences is not None:
            state.journal.record_timing(
                "nar-submit",
                job.sequence,
                request_id=job.task_id,
                text=job.text,
                sample_rate=RATE,
                sentences=rendered.sentences,
            )
        job.duration = decoded_samples(job.audio, AudioEncoding(kind=job.kind), RATE) / RATE
    expires = int(time.time() + state.config.result_ttl_seconds)
    origin = f"{request.scheme}://{request.host}"
    result = f"{origin}/tts-n/results/{job.task_id}?expires={expires}&sig={_signature(job.task_id, expires)}"
    if fault is not None and fault.kind == "foreign-result-url":
        state.route_stats("nar-status").faults += 1
        result = "file:///etc/passwd"
    return web.json_response(
        {
            "finished": True,
            "percent": 100,
            "succeeded": True,
            "result": result,
            "message": "",
            "durationInSeconds": round(job.duration),
        }
    )


@guarded("nar-result", nar_error, auth=False)
async def nar_result(request: web.Request, fault: FaultRule | None) -> web.StreamResponse:
    state = request.app[STATE]
    await received(request, None)  # downloads are free
    job = request.app[JOBS].get(request.match_info["task_id"])
    try:
        expires = int(request.query.get("expires", "0"))
    except ValueError:
        expires = 0
    if (
        job is None
        or job.audio is None
        or not hmac.compare_digest(request.query.get("sig", ""), _signature(job.task_id, expires))
    ):
        raise Rejection(404, "NotFound", "No such result.")
    injected = fault is not None and fault.kind == "expire-result"
    if injected or time.time() > expires:
        state.route_stats("nar-result").faults += int(injected)
        raise Rejection(403, "AccessDenied", "Request has expired.")
    job.downloads += 1
    return await send_audio(request, "nar-result", job.audio, MEDIA_TYPES[job.kind.value], fault)
