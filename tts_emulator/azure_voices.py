"""The Azure voice objects `GET /cognitiveservices/voices/list` answers, and their espeak-ng stand-ins."""

from __future__ import annotations

from aiohttp import web

from tts_emulator.guard import guarded, openai_error, received


def _voice(short: str, display: str, local: str, gender: str, locale: str, locale_name: str, wpm: str) -> dict:
    return {
        "Name": f"Microsoft Server Speech Text to Speech Voice ({locale}, {short.split('-', 2)[2]})",
        "DisplayName": display,
        "LocalName": local,
        "ShortName": short,
        "Gender": gender,
        "Locale": locale,
        "LocaleName": locale_name,
        "SampleRateHertz": "24000",
        "VoiceType": "Neural",
        "Status": "GA",
        "WordsPerMinute": wpm,
    }


VOICES = [
    _voice(
        "en-US-AvaMultilingualNeural",
        "Ava Multilingual",
        "Ava Multilingual",
        "Female",
        "en-US",
        "English (United States)",
        "150",
    ),
    _voice(
        "en-US-AndrewMultilingualNeural",
        "Andrew Multilingual",
        "Andrew Multilingual",
        "Male",
        "en-US",
        "English (United States)",
        "145",
    ),
    _voice("en-US-JennyNeural", "Jenny", "Jenny", "Female", "en-US", "English (United States)", "152"),
    _voice("en-GB-SoniaNeural", "Sonia", "Sonia", "Female", "en-GB", "English (United Kingdom)", "148"),
    _voice("zh-CN-XiaoxiaoNeural", "Xiaoxiao", "晓晓", "Female", "zh-CN", "Chinese (Mandarin, Simplified)", "260"),
    _voice("zh-CN-YunxiNeural", "Yunxi", "云希", "Male", "zh-CN", "Chinese (Mandarin, Simplified)", "250"),
    _voice("de-DE-KatjaNeural", "Katja", "Katja", "Female", "de-DE", "German (Germany)", "140"),
]
VOICES_BY_NAME = {v["ShortName"]: v for v in VOICES} | {v["Name"]: v for v in VOICES}
_ESPEAK = {"en-US": "en-us", "en-GB": "en-gb", "zh-CN": "cmn", "de-DE": "de"}


def espeak_language(locale: str) -> str:
    """The espeak-ng voice standing in for an Azure locale; 'auto' (by script) when there is none."""
    return _ESPEAK.get(locale, "auto")


@guarded("voices", openai_error)
async def voices_list(request: web.Request, fault) -> web.Response:
    await received(request, None)  # free: latency and late faults only
    return web.json_response(VOICES)
