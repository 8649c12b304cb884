"""OpenAI-compatible `POST /v1/audio/speech` and MaaS `POST /audio/speech` (OSpeech and ASpeech)."""

from __future__ import annotations

import re

from aiohttp import web

from speech_audio.encodings import AudioKind
from tts_emulator.azure_voices import VOICES_BY_NAME, espeak_language
from tts_emulator.config import FaultRule
from tts_emulator.guard import Rejection, guarded, openai_error, received, send_audio
from tts_emulator.ssml import parse_ssml
from tts_emulator.validation import answer_audio, json_body, number_in, one_of, required_text

OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
OPENAI_VOICES = ("alloy", "echo", "fable", "onyx", "nova", "shimmer")
OPENAI_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
OPENAI_PCM_RATE = 24_000
MAX_INPUT = 4096
MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
AZURE_FORMAT = re.compile(r"^(audio|riff|raw|ogg)-(\d+)khz-[\w-]*?-mono-(mp3|pcm|opus)$")


async def _openai_like(
    request: web.Request, fault: FaultRule | None, route: str, body: dict, require_model: bool
) -> web.StreamResponse:
    """The OpenAI speech body: model, input, voice, response_format, speed."""
    if require_model or "model" in body:
        one_of(body.get("model"), OPENAI_MODELS, "model")
    text = required_text(body, "input", MAX_INPUT)
    one_of(body.get("voice"), OPENAI_VOICES, "voice")
    fmt = one_of(body.get("response_format", "mp3"), OPENAI_FORMATS, "response_format")
    speed = number_in(body.get("speed"), 0.25, 4.0, "speed", 1.0)
    kind = AudioKind(fmt)
    rate = 48_000 if kind == AudioKind.OPUS else OPENAI_PCM_RATE
    await received(request, len(text))
    audio = await answer_audio(request, route, fault, text, kind, rate, language="auto", speed=speed)
    return await send_audio(request, route, audio, MEDIA_TYPES[fmt], fault, characters=len(text))


@guarded("openai", openai_error)
async def openai_speech(request: web.Request, fault: FaultRule | None) -> web.StreamResponse:
    return await _openai_like(request, fault, "openai", await json_body(request), require_model=True)


async def _aspeech(request: web.Request, fault: FaultRule | None, body: dict) -> web.StreamResponse:
    document = required_text(body, "input", 10 * MAX_INPUT)
    ssml = parse_ssml(document)
    text, voice_name = ssml.text, ssml.voice
    if not text.strip():
        raise Rejection(400, "invalid_ssml", "The SSML document holds no text to speak.", "input")
    if len(text) > MAX_INPUT:
        raise Rejection(
            400, "string_above_max_length", f"The text is {len(text)} characters; the maximum is {MAX_INPUT}.", "input"
        )
    voice = VOICES_BY_NAME.get(voice_name)
    if voice is None:
        raise Rejection(
            400, "invalid_voice", f"Unknown voice {voice_name!r}; see /cognitiveservices/voices/list.", "input"
        )
    fmt = body.get("response_format", "audio-16khz-128kbitrate-mono-mp3")
    match = AZURE_FORMAT.match(str(fmt))
    if not match:
        raise Rejection(400, "invalid_value", f"Unsupported output format {fmt!r}.", "response_format")
    container, khz, codec = match.groups()
    kind = {"mp3": AudioKind.MP3, "opus": AudioKind.OPUS}.get(codec) or (
        AudioKind.WAV if container == "riff" else AudioKind.PCM
    )
    rate = int(khz) * 1000
    await received(request, len(text))
    audio = await answer_audio(
        request, "maas-speech", fault, text, kind, rate, language=espeak_language(voice["Locale"]), speed=1.0
    )
    media = {AudioKind.MP3: "audio/mpeg", AudioKind.OPUS: "audio/ogg", AudioKind.WAV: "audio/wav"}.get(
        kind, "audio/pcm"
    )
    return await send_audio(request, "maas-speech", audio, media, fault, characters=len(text))


@guarded("maas-speech", openai_error)
async def maas_speech(request: web.Request, fault: FaultRule | None) -> web.StreamResponse:
    """OSpeech takes plain text and OpenAI voices; ASpeech takes an SSML document in `input`."""
    body = await json_body(request)
    if isinstance(body.get("input"), str) and body["input"].lstrip().startswith("<speak"):
        return await _aspeech(request, fault, body)
    return await _openai_like(request, fault, "maas-speech", body, require_model=False)
