"""The provider emulator on its own, over real HTTP: it bills like a provider, speaks sentences, checks contracts.

One emulator process for the module; no Prefect. Audio is decoded with PyAV (through speech_audio.codec) and
measured; the emulator's own account (`/_emulator/stats`, `/requests`, `/timings`) is checked against it.
"""

from __future__ import annotations

import math
import time
from array import array
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speech_audio import espeak
from speech_audio.codec import decode_pcm
from speech_audio.encodings import AudioEncoding, AudioKind
from tts_emulator.process import EmulatorProcess
from tts_emulator.tone import tone_speech

KEY = "emulator-key"
GEORGE = "JBFqnCBsd6RMkjVDRZzb"
RATE = 24_000
WINDOW = 0.005  # seconds per window when looking for sound
QUIET = 300  # peak (of 32767) at or below which a window is near-silence
GIVE_UP = httpx.Timeout(10.0, read=0.25)  # a client that sends its whole body, then gives up waiting


@pytest.fixture(scope="module")
def emulator_server():
    process = EmulatorProcess("--speech", "tone")
    yield process
    process.stop()


@pytest.fixture
def emulator(emulator_server):
    emulator_server.reset(routes=True)
    emulator_server.configure(speech="tone", job_seconds=0.2)
    return emulator_server


@pytest.fixture(scope="module")
def http(emulator_server):
    """One client for the module: an httpx.Client costs about 0.1 s to make (its TLS context)."""
    with httpx.Client(base_url=emulator_server.url, timeout=10) as http:
        yield http


@pytest.fixture
def client(emulator, http):
    """The module's client, sending the access key."""
    http.headers["Authorization"] = f"Bearer {KEY}"
    return http


def openai(client: httpx.Client, text: str, fmt: str = "wav", **options: Any) -> httpx.Response:
    body = {"model": "tts-1", "input": text, "voice": "alloy", "response_format": fmt}
    return client.post("/v1/audio/speech", json=body, **options)


def ele(client: httpx.Client, body: dict[str, Any], output_format: str = "pcm_24000", **options) -> httpx.Response:
    return client.post(f"/tts-e/text-to-speech/{GEORGE}", params={"output_format": output_format}, json=body, **options)


def aspeech(client: httpx.Client, inner: str, voice: str = "en-US-JennyNeural") -> httpx.Response:
    document = f"<speak version='1.0' xml:lang='en-US'><voice name='{voice}'>{inner}</voice></speak>"
    return client.post("/audio/speech", json={"input": document, "response_format": "riff-24khz-16bit-mono-pcm"})


def samples(audio: bytes, kind: AudioKind, rate: int = RATE) -> array:
    encoding = AudioEncoding(kind=kind, sample_rate=rate if kind is AudioKind.PCM else None)
    return array("h", b"".join(decode_pcm(audio, encoding, rate)))


def _peak(pcm: array) -> int:
    return max(max(pcm), -min(pcm))


def runs(pcm: array, rate: int = RATE) -> list[tuple[bool, float, float]]:
    """(sounding, start, end) runs of 5 ms windows; a window sounds when its peak is above QUIET."""
    step = round(WINDOW * rate)
    found: list[tuple[bool, float, float]] = []
    for index in range(0, len(pcm), step):
        window = pcm[index : index + step]
        sounding = _peak(window) > QUIET
        start, end = index / rate, min(len(pcm), index + step) / rate
        if found and found[-1][0] == sounding:
            found[-1] = (sounding, found[-1][1], end)
        else:
            found.append((sounding, start, end))
    return found


def bursts(pcm: array, rate: int = RATE, gap: float = 0.15) -> list[tuple[float, float]]:
    """Stretches of sound separated by at least `gap` seconds of near-silence."""
    found: list[tuple[float, float]] = []
    for sounding, start, end in runs(pcm, rate):
        if not sounding:
            continue
        if found and start - found[-1][1] < gap:
            found[-1] = (found[-1][0], end)
        else:
            found.append((start, end))
    return found


def settled(emulator: EmulatorProcess, route: str) -> dict[str, Any]:
    """The route's counters once nothing is in flight (a hung handler notices its client left within 50 ms)."""
    deadline = time.monotonic() + 5
    while (stats := emulator.stats(route)).get("in_flight") and time.monotonic() < deadline:
        time.sleep(0.02)
    return stats


# ---------------------------------------------------------------- 1. billing


def _openai_call(client, text, timeout):
    return openai(client, text, timeout=timeout)


def _ele_call(client, text, timeout):
    return ele(client, {"text": text}, timeout=timeout)


CALLS = {"openai": _openai_call, "ele": _ele_call}

# (case, fault or route settings, client timeout, paid, served, abandoned, faults, the client gets a whole 200)
BILLING = [
    ("clean", None, 10, 1, 1, 0, 0, True),
    ("status-503", {"kind": "status", "status": 503}, 10, 0, 0, 0, 1, False),
    ("reset-before-body", {"kind": "reset"}, 10, 0, 0, 0, 1, False),
    ("reset-after-receipt", {"kind": "reset-after-receipt"}, 10, 1, 0, 1, 1, False),
    ("hang-past-timeout", {"kind": "hang", "seconds": 3}, GIVE_UP, 1, 0, 1, 1, False),
    ("hang-within-timeout", {"kind": "hang", "seconds": 0.2}, 10, 1, 1, 0, 1, True),
    ("latency-past-timeout", {"latency_seconds": 3}, GIVE_UP, 1, 0, 1, 0, False),
    ("truncate", {"kind": "truncate"}, 10, 1, 0, 0, 1, False),
    ("garbage", {"kind": "garbage"}, 10, 1, 0, 0, 1, True),  # whole, but not audio: paid, not served
    ("silence", {"kind": "silence"}, 10, 1, 1, 0, 1, True),
]


@pytest.mark.parametrize("route", ["openai", "ele"])
@pytest.mark.parametrize(
    ("case", "setup", "timeout", "paid", "served", "abandoned", "faults", "whole"), BILLING, ids=[c[0] for c in BILLING]
)
def test_a_request_is_paid_once_received_whatever_happens_to_the_answer(
    emulator, client, route, case, setup, timeout, paid, served, abandoned, faults, whole
):
    text = f"Billing case {case} on {route}. It has two sentences."
    if setup and "kind" in setup:
        emulator.add_fault(route, **setup)
    elif setup:
        emulator.set_route(route, **setup)
    try:
        response = CALLS[route](client, text, timeout)
        got_whole = response.status_code == 200 and len(response.content) > 1000
    except httpx.HTTPError:
        got_whole = False
    stats = settled(emulator, route)
    assert got_whole == whole
    assert (stats["paid"], stats["served"], stats["abandoned"], stats["faults"]) == (paid, served, abandoned, faults)
    assert stats["billed_characters"] == paid * len(text)
    assert stats["requests"] == 1 and stats["rejected"] == 0
    [record] = emulator.recorded(route)
    assert record["paid"] == bool(paid)
    if case == "reset-before-body":
        assert record["body"] is None and record["status"] is None
    else:
        assert record["body"]["text" if route == "ele" else "input"] == text


def test_refused_and_throttled_requests_are_never_paid(emulator, client):
    body = {"model": "tts-1", "input": "Wrong voice.", "voice": "nobody"}
    assert client.post("/v1/audio/speech", json=body).status_code == 400
    assert ele(client, {"text": "Bad seed.", "seed": -1}).status_code == 422
    wrong_key = client.post("/v1/audio/speech", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong_key.status_code == 401
    emulator.set_route("ele", max_concurrency=1, latency_seconds=0.5)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(ele, client, {"text": "First in the second."})
        while not emulator.stats("ele").get("paid"):  # the first is in, and held by its latency
            time.sleep(0.01)
        assert ele(client, {"text": "Second in the second."}).status_code == 429
        assert first.result().status_code == 200
    openai_stats, ele_stats = emulator.stats("openai"), emulator.stats("ele")
    assert (openai_stats["paid"], openai_stats["rejected"]) == (0, 2)
    assert (ele_stats["paid"], ele_stats["rejected"], ele_stats["throttled"]) == (1, 1, 1)
    assert ele_stats["billed_characters"] == len("First in the second.")


def test_a_fault_due_after_receipt_waits_for_a_request_that_gets_there(emulator, client):
    emulator.add_fault("openai", kind="truncate")
    body = {"model": "tts-1", "input": "Wrong voice.", "voice": "nobody"}
    assert client.post("/v1/audio/speech", json=body).status_code == 400  # refused before the fault's stage
    with pytest.raises(httpx.RemoteProtocolError):
        openai(client, "This one is truncated.")
    assert openai(client, "This one is whole.").status_code == 200
    stats = emulator.stats("openai")
    assert (stats["faults"], stats["rejected"], stats["paid"], stats["served"]) == (1, 1, 2, 1)


def test_ele_bills_the_character_cost_it_answers(emulator, client):
    texts = ["Short.", "A somewhat longer sentence, with a comma.", "中文也按字计费。"]
    costs = [int(ele(client, {"text": text}).headers["character-cost"]) for text in texts]
    assert costs == [len(text) for text in texts]
    assert emulator.billed_characters("ele") == sum(costs) and emulator.paid("ele") == 3


def test_ssml_is_billed_for_its_spoken_text_not_its_markup(emulator, client):
    inner = (
        "Hi <sub alias='World Health Organization'>WHO</sub>, <phoneme alphabet='ipa' ph='təˈmeɪtoʊ'>tomato</phoneme>."
    )
    assert aspeech(client, inner).status_code == 200
    spoken = "Hi World Health Organization, tomato."
    assert emulator.billed_characters("maas-speech") == len(spoken)
    assert emulator.timings("maas-speech")[-1]["text"] == spoken


def test_a_subtitle_body_is_billed_for_its_cue_text(emulator, client):
    document = (
        "1\n00:00:00,000 --> 00:00:02,000\nHello from a cue.\n\n2\n00:00:02,500 --> 00:00:04,000\nSecond & last.\n"
    )
    response = client.post(
        "/tts-n/text-to-speech/mp3",
        content=document.encode(),
        headers={"Content-Type": "application/x-subrip", "Accept": "application/octet-stream"},
    )
    assert response.status_code == 200
    assert emulator.billed_characters("nar-short") == len("Hello from a cue. Second & last.")
    [record] = emulator.recorded("nar-short")
    assert record["body"] == document and record["headers"]["Content-Type"] == "application/x-subrip"
    assert not any(name.lower() == "authorization" for name in record["headers"])


def _submit(client: httpx.Client, text: str, **options: Any) -> httpx.Response:
    return client.post(
        "/tts-n/text-to-speech/mp3", content=text.encode(), headers={"Content-Type": "text/plain"}, **options
    )


def test_a_long_job_is_billed_once_at_submission_even_when_its_answers_are_lost(emulator, client):
    text = "A long job. Its answer may never arrive, but the provider has the text."
    emulator.set_route("nar-submit", latency_seconds=3)
    with pytest.raises(httpx.TimeoutException):
        _submit(client, text, timeout=GIVE_UP)
    lost = settled(emulator, "nar-submit")
    assert (lost["paid"], lost["served"], lost["abandoned"]) == (1, 0, 1)
    emulator.set_route("nar-submit")
    job = _submit(client, text).json()
    deadline = time.monotonic() + 10
    while not (status := client.get(job["statusUrl"], headers={"Authorization": ""}).json())["finished"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert status["succeeded"]
    emulator.add_fault("nar-result", kind="truncate")
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(status["result"])  # the download breaks off: the client drops the answer
    audio = client.get(status["result"]).content
    assert len(samples(audio, AudioKind.MP3)) > RATE
    submit, polls, downloads = (emulator.stats(route) for route in ("nar-submit", "nar-status", "nar-result"))
    assert (submit["paid"], submit["served"], submit["billed_characters"]) == (2, 1, 2 * len(text))
    assert polls["paid"] == downloads["paid"] == 0 and polls["requests"] >= 1
    assert (downloads["requests"], downloads["served"], downloads["faults"]) == (2, 1, 1)


# ---------------------------------------------------------------- 2. tone speech with sentences

SENTENCES = [
    "The first sentence is short.",
    "The second one, which has a comma, runs a little longer than the first.",
    "Third!",
    "Is the fourth a question?",
    "The fifth sentence has commas, clauses, and asides, all in one line.",
    "第六句是中文。",
    "Seven, eight, nine, ten, eleven, twelve, thirteen.",
    "The last sentence ends the text.",
]


def test_tone_speech_has_one_burst_per_sentence_with_pauses_between(emulator, client):
    text = " ".join(SENTENCES[:4]) + "\n" + " ".join(SENTENCES[4:])
    pcm = samples(openai(client, text).content, AudioKind.WAV)
    found = bursts(pcm)
    assert len(found) == len(SENTENCES)
    pauses = [later[0] - earlier[1] for earlier, later in zip(found, found[1:], strict=False)]
    assert all(0.15 <= pause <= 0.71 for pause in pauses), pauses
    assert 0.015 <= found[0][0] <= 0.305 and 0.015 <= len(pcm) / RATE - found[-1][1] <= 0.305
    inner = runs(pcm)[1:-1]  # without the leading and trailing silence
    short_silences = [end - start for sounding, start, end in inner if not sounding and end - start < 0.15]
    assert short_silences and all(0.045 <= s <= 0.125 for s in short_silences)  # some commas pause, briefly
    commas = sum(sentence.count(",") for sentence in SENTENCES)
    assert len(short_silences) < commas  # …but not every comma


def _burst_stats(client: httpx.Client, sentences: list[str]) -> list[tuple[float, int]]:
    pcm = samples(openai(client, " ".join(sentences)).content, AudioKind.WAV)
    found = bursts(pcm)
    assert len(found) == len(sentences)
    peaks = [_peak(pcm[round(s * RATE) : round(e * RATE)]) for s, e in found]
    return [(end - start, peak) for (start, end), peak in zip(found, peaks, strict=True)]


def test_burst_lengths_are_not_proportional_to_characters(emulator, client):
    nouns = ["planet", "garden", "violin", "harbor", "meadow", "castle", "forest", "candle", "silver", "rocket"]
    same_length = [f"Sentence {i:02d} tells of the {noun}." for i, noun in enumerate(nouns * 2)]
    assert len({len(s) for s in same_length}) == 1 and len(set(same_length)) == len(same_length)
    measured = _burst_stats(client, same_length)
    durations = [d for d, _ in measured]
    assert max(durations) / min(durations) >= 1.4, durations  # equal characters, unequal time
    peaks = [p for _, p in measured]
    assert max(peaks) / min(peaks) >= 1.3, peaks  # and unequal loudness
    varied = [" ".join(["word"] * n) + "." for n in (2, 3, 5, 8, 13, 4, 6, 9, 11, 7)]
    ratios = [d / len(s) for (d, _), s in zip(_burst_stats(client, varied), varied, strict=True)]
    mean = sum(ratios) / len(ratios)
    spread = math.sqrt(sum((r - mean) ** 2 for r in ratios) / len(ratios)) / mean
    assert spread >= 0.15, ratios  # seconds per character differ from sentence to sentence


@pytest.mark.parametrize(("route", "fmt"), [("openai", "wav"), ("ele", "pcm_16000"), ("ele", "pcm_44100")])
def test_timings_match_the_silences_in_the_audio(emulator, client, route, fmt):
    text = " ".join(SENTENCES)
    if route == "openai":
        response, rate, kind = openai(client, text, fmt), RATE, AudioKind.WAV
    else:
        response, rate, kind = ele(client, {"text": text}, fmt), int(fmt.split("_")[1]), AudioKind.PCM
    found = bursts(samples(response.content, kind, rate), rate)
    [timing] = emulator.timings(route)
    assert (timing["text"], timing["sample_rate"]) == (text, rate)
    if route == "ele":
        assert timing["request_id"] == response.headers["request-id"]
    assert len(timing["sentences"]) == len(found)
    for (start, end), (true_start, true_end) in zip(found, timing["sentences"], strict=True):
        assert abs(start - true_start) <= WINDOW + 1e-9 and abs(end - true_end) <= WINDOW + 1e-9
    assert not any("timing" in name.lower() or "sentence" in name.lower() for name in response.headers)


PUNCTUATED = st.text(alphabet=st.sampled_from("abcdefghij xyz,.!?\n。！？，中文字—"), min_size=1, max_size=300).filter(
    lambda text: text.strip()
)


@settings(max_examples=40, deadline=None)
@given(text=PUNCTUATED, speed=st.floats(0.25, 4.0), rate=st.sampled_from([8000, 16000, 24000, 44100]))
def test_tone_speech_stays_plausible_and_silent_between_sentences(text, speed, rate):
    speech = tone_speech(text, speed, rate)
    pcm = array("h", speech.pcm)
    seconds = len(pcm) / rate
    characters = len(text.strip())
    assert characters / (40 * speed) <= seconds <= (3 + characters / 0.5) / speed
    spans = speech.sentences
    assert spans and all(start < end for start, end in spans)
    assert 0.02 / speed - 1 / rate <= spans[0][0] <= 0.30 / speed + 1 / rate
    assert 0.02 / speed - 1 / rate <= seconds - spans[-1][1] <= 0.30 / speed + 1 / rate
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert 0.18 / speed - 1 / rate <= start - end <= 0.70 / speed + 1 / rate
    outside = [(0.0, spans[0][0])] + [(e, s) for (_, e), (s, _) in zip(spans, spans[1:], strict=False)]
    for start, end in [*outside, (spans[-1][1], seconds)]:
        assert not any(pcm[round(start * rate) : round(end * rate)])  # pure silence between sentences
    for start, end in spans:
        inside = pcm[round(start * rate) : round(end * rate)]
        assert max(inside) > 2000  # every sentence sounds
    assert tone_speech(text, speed, rate) == speech  # the same request, the same speech


# ---------------------------------------------------------------- 3. MaaS-Ele parameters

LOCATOR = {"pronunciation_dictionary_id": "dict-1", "version_id": "v1"}
ELE_FIELDS = [
    ("no-locators", {"pronunciation_dictionary_locators": []}, 200),
    ("three-locators", {"pronunciation_dictionary_locators": [LOCATOR] * 3}, 200),
    ("four-locators", {"pronunciation_dictionary_locators": [LOCATOR] * 4}, 422),
    ("locator-without-version", {"pronunciation_dictionary_locators": [{"pronunciation_dictionary_id": "d"}]}, 422),
    ("locator-numeric-id", {"pronunciation_dictionary_locators": [LOCATOR | {"pronunciation_dictionary_id": 7}]}, 422),
    ("locator-not-object", {"pronunciation_dictionary_locators": ["dict-1"]}, 422),
    ("locators-not-list", {"pronunciation_dictionary_locators": LOCATOR}, 422),
    ("seed-zero", {"seed": 0}, 200),
    ("seed-max", {"seed": 4294967295}, 200),
    ("seed-null", {"seed": None}, 200),
    ("seed-negative", {"seed": -1}, 422),
    ("seed-too-big", {"seed": 4294967296}, 422),
    ("seed-float", {"seed": 1.5}, 422),
    ("seed-string", {"seed": "42"}, 422),
    ("seed-bool", {"seed": True}, 422),
]


@pytest.mark.parametrize(("case", "fields", "status"), ELE_FIELDS, ids=[c[0] for c in ELE_FIELDS])
def test_ele_checks_locators_and_seed(emulator, client, case, fields, status):
    body = {"text": f"Ele case {case}.", "model_id": "eleven_multilingual_v2"} | fields
    response = ele(client, body)
    assert response.status_code == status, response.text
    if status == 422:
        detail = response.json()["detail"]
        assert detail["status"] == "unprocessable_entity" and next(iter(fields)) in detail["message"]
    [record] = emulator.recorded("ele")
    assert record["body"] == body and record["paid"] == (status == 200)
    assert record["query"] == {"output_format": "pcm_24000"}
    assert "authorization" not in {name.lower() for name in record["headers"]}
    assert emulator.paid("ele") == (status == 200)


# ---------------------------------------------------------------- 4. ASpeech SSML


def _seconds(response: httpx.Response) -> float:
    assert response.status_code == 200, response.text
    return len(samples(response.content, AudioKind.WAV)) / RATE


def test_a_sub_alias_is_spoken_by_espeak(emulator, client):
    emulator.configure(speech="espeak")
    alias = _seconds(aspeech(client, "The <sub alias='World Health Organization'>WHO</sub> met today."))
    written_out = _seconds(aspeech(client, "The World Health Organization met today."))
    abbreviated = _seconds(aspeech(client, "The WHO met today."))
    direct = len(espeak.synthesize("The World Health Organization met today.", "en-us", 1.0)) / 2 / espeak.sample_rate()
    assert abs(alias - written_out) <= 0.03 * written_out and abs(written_out - direct) <= 0.03 * direct
    assert abbreviated < 0.85 * alias


def test_a_sub_alias_is_spoken_by_the_tone(emulator, client):
    short = _seconds(aspeech(client, "<sub alias='WHO'>World Health Organization</sub> met."))
    long = _seconds(aspeech(client, "<sub alias='the World Health Organization of the United Nations'>WHO</sub> met."))
    assert long > 1.5 * short
    spoken = [timing["text"] for timing in emulator.timings("maas-speech")]
    assert spoken == ["WHO met.", "the World Health Organization of the United Nations met."]


SSML_CASES = [
    ("phoneme-ipa", "<phoneme alphabet='ipa' ph='təˈmeɪtoʊ'>tomato</phoneme>", 200),
    ("phoneme-sapi", "<phoneme alphabet='sapi' ph='t ax m ey t ow'>tomato</phoneme>", 200),
    ("phoneme-ups", "<phoneme alphabet='ups' ph='T AX M EY T OW'>tomato</phoneme>", 200),
    ("phoneme-unknown-alphabet", "<phoneme alphabet='klingon' ph='x'>tomato</phoneme>", 400),
    ("phoneme-empty-ph", "<phoneme alphabet='ipa' ph=''>tomato</phoneme>", 400),
    ("phoneme-no-ph", "<phoneme alphabet='ipa'>tomato</phoneme>", 400),
    ("sub-without-alias", "<sub>WHO</sub>", 400),
    ("not-well-formed", "tomato <b>", 400),
    ("unescaped-ampersand", "salt & pepper", 400),
]


@pytest.mark.parametrize(("case", "inner", "status"), SSML_CASES, ids=[c[0] for c in SSML_CASES])
def test_ssml_phonemes_and_well_formedness_are_checked(emulator, client, case, inner, status):
    response = aspeech(client, f"Say {inner} twice.")
    assert response.status_code == status, response.text
    if status == 400:
        assert response.json()["error"]["code"] == "invalid_ssml" and emulator.paid("maas-speech") == 0
    else:
        assert emulator.timings("maas-speech")[-1]["text"] == "Say tomato twice."
        assert emulator.billed_characters("maas-speech") == len("Say tomato twice.")
