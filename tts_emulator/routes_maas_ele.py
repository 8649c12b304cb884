"""MaaS-Ele (ElevenLabs-compatible) `POST /tts-e/text-to-speech/{voice_id}`.

Every body field of the contract is checked; a malformed one is a 422 naming its location. A valid request
is billed its `character-cost` (the characters of `text`) before any audio is made.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from speech_audio.encodings import AudioKind
from tts_emulator.config import FaultRule
from tts_emulator.guard import STATE, Rejection, ele_error, guarded, received, send_audio
from tts_emulator.validation import answer_audio, json_body

VOICE_IDS = {
    "EXAVITQu4vr4xnSDxMaL": "Sarah",
    "FGY2WhTYpPnrIDTdsKH5": "Laura",
    "IKne3meq5aSn9XLyUdCD": "Charlie",
    "JBFqnCBsd6RMkjVDRZzb": "George",
    "N2lVS1w4EtoT3dr4eOWO": "Callum",
    "TX3LPaxmHKxFdv7VOQHJ": "Liam",
    "XB0fDUnXU5powFXDhCwa": "Charlotte",
    "Xb7hH8MSUJpSbSDYk0k2": "Alice",
    "XrExE9yKIg1WjnnlVkGX": "Matilda",
    "bIHbv24MWmeRgasZH58o": "Will",
    "cgSgspJ2msm6clMCkdW9": "Jessica",
    "cjVigY5qzO86Huf0OWal": "Eric",
    "iP95p4xoKVk53GoZ742B": "Chris",
    "nPczCjzI2devNBz1zQrb": "Brian",
    "onwK4e9ZLuTAKqWW03F9": "Daniel",
    "pFZP5JQG7iQjIQuC4Bku": "Lily",
    "pqHfZKP75CvOlQylNhV4": "Bill",
}
MODELS = (
    "eleven_monolingual_v1",
    "eleven_multilingual_v2",
    "eleven_turbo_v2_5",
    "eleven_turbo_v2",
    "eleven_multilingual_v1",
)
OUTPUT_FORMATS = {
    "mp3_22050_32": (AudioKind.MP3, 22050),
    "mp3_44100_32": (AudioKind.MP3, 44100),
    "mp3_44100_64": (AudioKind.MP3, 44100),
    "mp3_44100_96": (AudioKind.MP3, 44100),
    "mp3_44100_128": (AudioKind.MP3, 44100),
    "mp3_44100_192": (AudioKind.MP3, 44100),
    "pcm_16000": (AudioKind.PCM, 16000),
    "pcm_22050": (AudioKind.PCM, 22050),
    "pcm_24000": (AudioKind.PCM, 24000),
    "pcm_44100": (AudioKind.PCM, 44100),
    "ulaw_8000": (AudioKind.ULAW, 8000),
}
BODY_FIELDS = {
    "text",
    "model_id",
    "language_code",
    "voice_settings",
    "pronunciation_dictionary_locators",
    "seed",
    "previous_text",
    "next_text",
    "previous_request_ids",
    "next_request_ids",
}
MAX_TEXT = 5000
MAX_LOCATORS = 3
MAX_SEED = 4_294_967_295
ISSUED = web.AppKey("issued_request_ids", set)


def _unprocessable(location: str, message: str) -> Rejection:
    return Rejection(422, "unprocessable_entity", f"{location}: {message}", location)


def _check_locators(locators: object) -> None:
    """At most 3 {pronunciation_dictionary_id, version_id} objects, both strings."""
    field = "body.pronunciation_dictionary_locators"
    if locators is None:
        return
    if not isinstance(locators, list):
        raise _unprocessable(field, "must be a list")
    if len(locators) > MAX_LOCATORS:
        raise _unprocessable(field, f"at most {MAX_LOCATORS} locators; got {len(locators)}")
    for index, locator in enumerate(locators):
        if not isinstance(locator, dict):
            raise _unprocessable(f"{field}.{index}", "must be an object")
        for key in ("pronunciation_dictionary_id", "version_id"):
            if not isinstance(locator.get(key), str):
                raise _unprocessable(f"{field}.{index}.{key}", "field required (string)")


def _check_body(body: dict, issued: set[str]) -> tuple[str, str]:
    extra = set(body) - BODY_FIELDS
    if extra:
        raise _unprocessable(f"body.{sorted(extra)[0]}", "extra fields not permitted")
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _unprocessable("body.text", "field required (non-empty string)")
    if len(text) > MAX_TEXT:
        raise Rejection(400, "text_too_long", f"Text is {len(text)} characters; the maximum is {MAX_TEXT}.")
    model = body.get("model_id", "eleven_monolingual_v1")
    if model not in MODELS:
        raise Rejection(400, "model_not_found", f"Model {model!r} does not exist.")
    language = body.get("language_code")
    if language is not None:
        if model != "eleven_turbo_v2_5":
            raise Rejection(
                400, "unsupported_language_code", f"language_code is only supported by eleven_turbo_v2_5, not {model}."
            )
        if not (isinstance(language, str) and len(language) == 2 and language.isalpha()):
            raise _unprocessable("body.language_code", "must be an ISO 639-1 code")
    settings = body.get("voice_settings")
    if settings is not None:
        if not isinstance(settings, dict):
            raise _unprocessable("body.voice_settings", "must be an object")
        for key in ("stability", "similarity_boost", "style"):
            value = settings.get(key)
            if value is not None and (not isinstance(value, int | float) or not 0 <= value <= 1):
                raise _unprocessable(f"body.voice_settings.{key}", "must be between 0 and 1")
    _check_locators(body.get("pronunciation_dictionary_locators"))
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        raise _unprocessable("body.seed", f"must be an integer from 0 to {MAX_SEED}")
    for field in ("previous_request_ids", "next_request_ids"):
        ids = body.get(field) or []
        if not isinstance(ids, list) or len(ids) > 3:
            raise _unprocessable(f"body.{field}", "at most 3 request ids")
        unknown = [i for i in ids if i not in issued]
        if unknown:
            raise Rejection(400, "invalid_request_ids", f"{field} holds unknown request id {unknown[0]!r}.")
    for field in ("previous_text", "next_text"):
        if body.get(field) is not None and not isinstance(body[field], str):
            raise _unprocessable(f"body.{field}", "must be a string")
    return text, model


@guarded("ele", ele_error)
async def ele_speech(request: web.Request, fault: FaultRule | None) -> web.StreamResponse:
    voice_id = request.match_info["voice_id"]
    if voice_id not in VOICE_IDS:
        raise Rejection(404, "voice_not_found", f"A voice with the voice_id {voice_id} was not found.")
    output_format = request.query.get("output_format", "mp3_44100_128")
    if output_format not in OUTPUT_FORMATS:
        raise Rejection(400, "invalid_output_format", f"output_format must be one of {', '.join(OUTPUT_FORMATS)}.")
    if request.query.get("enable_logging", "true") not in ("true", "false"):
        raise _unprocessable("query.enable_logging", "must be true or false")
    latency = request.query.get("optimize_streaming_latency")
    if latency is not None and latency not in ("0", "1", "2", "3", "4"):
        raise _unprocessable("query.optimize_streaming_latency", "must be 0 to 4")
    body = await json_body(request)
    issued = request.app[ISSUED]
    text, _model = _check_body(body, issued)
    stats = request.app[STATE].route_stats("ele")
    for field in ("previous_text", "next_text", "previous_request_ids"):
        if body.get(field):
            stats.note(field)
    kind, rate = OUTPUT_FORMATS[output_format]
    await received(request, len(text))  # the character-cost answered below
    request_id = uuid.uuid4().hex
    audio = await answer_audio(
        request, "ele", fault, text, kind, rate, language="auto", speed=1.0, request_id=request_id
    )
    issued.add(request_id)
    headers = {"character-cost": str(len(text)), "request-id": request_id}
    media = {AudioKind.MP3: "audio/mpeg", AudioKind.PCM: "audio/pcm", AudioKind.ULAW: "audio/basic"}[kind]
    return await send_audio(request, "ele", audio, media, fault, headers, characters=len(text))
