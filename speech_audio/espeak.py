"""Offline speech synthesis with the libespeak-ng shipped in the `espeakng-loader` wheel.

libespeak-ng keeps global state (one current voice, one callback), so every call goes
through one process-wide lock; it synthesizes about 100 times faster than real time, so a
lock costs little, and callers run it in a worker thread to keep event loops free.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from typing import Literal

import espeakng_loader

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE = 1
_DEFAULT_WORDS_PER_MINUTE = 175
_MIN_WORDS_PER_MINUTE = 80
_MAX_WORDS_PER_MINUTE = 450
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_SENTENCE = 2

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


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """espeak_EVENT from speak_lib.h; the synthesis callback gets an array ending with type 0."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based, in characters
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),  # the same position in samples
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class EspeakError(RuntimeError):
    """libespeak-ng refused a call (unknown voice, failed initialisation)."""


@dataclass(frozen=True)
class EspeakVoice:
    """One installed voice: `name` is what `synthesize` accepts, `language` its main language."""

    name: str
    language: str
    identifier: str


@dataclass(frozen=True)
class Mark:
    """Where espeak-ng says a word or sentence of the text starts in the audio.

    `text_position` is a 0-based character offset into the text, `length` its length in characters
    (for a sentence: up to the next sentence or the end of the text), `sample` the sample index in
    the audio at which it is spoken.
    """

    kind: Literal["word", "sentence"]
    text_position: int
    length: int
    sample: int


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
        self._events: list[tuple[int, int, int, int]] | None = None  # collected only when marks are asked for
        self._callback = _SynthCallback(self._collect)  # keep a reference: C holds it
        self._lib.espeak_SetSynthCallback(self._callback)
        self.identifiers: dict[str, str] | None = None
        self.identifiers_lock = threading.Lock()

    def _collect(self, samples, count, events) -> int:
        if count > 0:
            self._buffer += ctypes.string_at(samples, count * 2)
        if self._events is not None and events:
            array = ctypes.cast(events, ctypes.POINTER(_Event))
            index = 0
            while (event := array[index]).type != _EVENT_LIST_TERMINATED:
                if event.type in (_EVENT_WORD, _EVENT_SENTENCE):
                    self._events.append((event.type, event.text_position, event.length, event.sample))
                index += 1
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

    def synthesize(
        self, text: str, voice: str, speed: float, events: list[tuple[int, int, int, int]] | None = None
    ) -> bytes:
        """The audio; `events`, if given, receives (type, 1-based position, length, sample) per word and sentence."""
        words_per_minute = round(_DEFAULT_WORDS_PER_MINUTE * speed)
        words_per_minute = max(_MIN_WORDS_PER_MINUTE, min(_MAX_WORDS_PER_MINUTE, words_per_minute))
        encoded = text.encode("utf-8") + b"\0"
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EspeakError(f"espeak-ng has no voice {voice!r}")
            self._lib.espeak_SetParameter(_PARAM_RATE, words_per_minute, 0)
            self._buffer = bytearray()
            self._events = events
            try:
                status = self._lib.espeak_Synth(encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
                self._lib.espeak_Synchronize()
            finally:
                self._events = None
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


def synthesize_with_marks(text: str, voice: str = "en-us", speed: float = 1.0) -> tuple[bytes, list[Mark]]:
    """Like `synthesize`, with where espeak-ng starts speaking each word and sentence of `text`.

    espeak-ng reads some written words as several (a number's digit groups, spelled letters): it
    then reports several word events inside one written word; a repeat at the same position is
    kept once.
    """
    identifier = _identifiers().get(voice.lower())
    if identifier is None:
        raise EspeakError(f"espeak-ng has no voice {voice!r}")
    events: list[tuple[int, int, int, int]] = []
    pcm = _engine().synthesize(text, identifier, speed, events)
    samples = len(pcm) // 2
    words: list[Mark] = []
    sentences: list[Mark] = []
    for kind, position, length, sample in events:
        start = min(max(position - 1, 0), len(text))
        sample = min(max(sample, 0), samples)
        if kind == _EVENT_SENTENCE:
            sentences.append(Mark("sentence", start, 0, sample))
        elif not words or start != words[-1].text_position:
            words.append(Mark("word", start, min(max(length, 0), len(text) - start), sample))
    # A sentence runs to the next one (espeak-ng reports no length for sentences).
    sentences = [
        Mark("sentence", mark.text_position, following - mark.text_position, mark.sample)
        for mark, following in zip(sentences, [*(mark.text_position for mark in sentences[1:]), len(text)], strict=True)
    ]
    marks = sorted(words + sentences, key=lambda mark: (mark.sample, mark.kind != "sentence"))
    return pcm, marks
