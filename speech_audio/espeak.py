"""Offline speech synthesis with the libespeak-ng shipped in the `espeakng-loader` wheel.

libespeak-ng keeps global state (one current voice, one callback), so every call goes
through one process-wide lock; it synthesizes about 100 times faster than real time, so a
lock costs little, and callers run it in a worker thread to keep event loops free.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import espeakng_loader

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE = 1
_DEFAULT_WORDS_PER_MINUTE = 175
_MIN_WORDS_PER_MINUTE = 80
_MAX_WORDS_PER_MINUTE = 450

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


class EspeakError(RuntimeError):
    """libespeak-ng refused a call (unknown voice, failed initialisation)."""


@dataclass(frozen=True)
class EspeakVoice:
    """One installed voice: `name` is what `synthesize` accepts, `language` its main language."""

    name: str
    language: str
    identifier: str


class _Engine:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        data_parent = espeakng_loader.get_data_path().rsplit("/", 1)[0]
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent.encode(), _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise EspeakError(f"libespeak-ng failed to initialise (code {rate})")
        self.sample_rate = rate
        self._buffer = bytearray()
        self._callback = _SynthCallback(self._collect)  # keep a reference: C holds it
        self._lib.espeak_SetSynthCallback(self._callback)
        self.identifiers: dict[str, str] | None = None
        self.identifiers_lock = threading.Lock()

    def _collect(self, samples, count, _events) -> int:
        if count > 0:
            self._buffer += ctypes.string_at(samples, count * 2)
        return 0

    def voices(self) -> list[EspeakVoice]:
        with self._lock:
            array = self._lib.espeak_ListVoices(None)
            found: list[EspeakVoice] = []
            index = 0
            while array[index]:
                voice = array[index].contents
                # `languages` is a list of (priority byte, name, NUL); the first name is the main one.
                languages = voice.languages or b""
                found.append(
                    EspeakVoice(
                        name=voice.identifier.decode().rsplit("/", 1)[-1],
                        language=languages[1:].decode(errors="replace"),
                        identifier=voice.identifier.decode(),
                    )
                )
                index += 1
            return found

    def synthesize(self, text: str, voice: str, speed: float) -> bytes:
        words_per_minute = round(_DEFAULT_WORDS_PER_MINUTE * speed)
        words_per_minute = max(_MIN_WORDS_PER_MINUTE, min(_MAX_WORDS_PER_MINUTE, words_per_minute))
        encoded = text.encode("utf-8") + b"\0"
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EspeakError(f"espeak-ng has no voice {voice!r}")
            self._lib.espeak_SetParameter(_PARAM_RATE, words_per_minute, 0)
            self._buffer = bytearray()
            status = self._lib.espeak_Synth(encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            self._lib.espeak_Synchronize()
            if status != 0:
                raise EspeakError(f"espeak-ng failed to synthesize (code {status})")
            return bytes(self._buffer)


_engine_lock = threading.Lock()
_engine_instance: _Engine | None = None


def _engine() -> _Engine:
    """The one engine of the process, created once even when threads ask at the same moment.

    (`functools.lru_cache` would let two threads each initialise libespeak-ng; the second
    callback then steals the first one's samples.)
    """
    global _engine_instance
    with _engine_lock:
        if _engine_instance is None:
            _engine_instance = _Engine()
        return _engine_instance


def sample_rate() -> int:
    """The engine's output rate in Hz (22050 for the bundled build)."""
    return _engine().sample_rate


def list_voices() -> list[EspeakVoice]:
    """Every installed voice, as libespeak-ng reports them."""
    return _engine().voices()


def _identifiers() -> dict[str, str]:
    """Lower-cased voice file names and language codes, each to the voice identifier libespeak-ng loads."""
    engine = _engine()
    with engine.identifiers_lock:
        if engine.identifiers is None:
            found: dict[str, str] = {}
            for voice in engine.voices():
                found.setdefault(voice.name.lower(), voice.identifier)
                if voice.language:
                    found.setdefault(voice.language.lower(), voice.identifier)
            engine.identifiers = found
        return engine.identifiers


def voice_names() -> frozenset[str]:
    """Names `synthesize` accepts (any case): voice file names and their language codes."""
    return frozenset(_identifiers())


def synthesize(text: str, voice: str = "en-us", speed: float = 1.0) -> bytes:
    """Speak `text` with a voice name or language code; returns s16le mono PCM at `sample_rate()`."""
    identifier = _identifiers().get(voice.lower())
    if identifier is None:
        raise EspeakError(f"espeak-ng has no voice {voice!r}")
    return _engine().synthesize(text, identifier, speed)
