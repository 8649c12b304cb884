"""A lexicon through the flow: each provider hears the word said right, viewers read it as written, and a
lexicon edit pays only for the chunks where its word occurs."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ElementTree

import pytest

from flows.narrate import narrate
from flows.parameters import NarrationRequest
from tests.audio_probe import decoded_duration
from tests.provider_blocks import save_block


def run(**fields):
    return asyncio.run(narrate(NarrationRequest(**fields)))


def test_aspeech_gets_phoneme_and_sub_elements_next_to_markup_characters(prefect_api_url, emulator, tmp_path):
    lexicon = tmp_path / "words.yaml"
    lexicon.write_text('nginx: engine x\nSQL: {say: sequel, ipa: "ˈsiːkwəl"}\n', encoding="utf-8")
    provider = save_block("maas-aspeech", emulator.url, "lexicon-aspeech")
    text = 'Use nginx & "SQL" <tags> here. Then nginx\'s config.'
    manifest = run(text=text, provider=provider, output=str(tmp_path), name="ssml", lexicon=str(lexicon))
    (request,) = [r for r in emulator.recorded("maas-speech") if "<speak" in str(r.get("body"))]
    ssml = request["body"]["input"]
    root = ElementTree.fromstring(ssml)  # well-formed, whatever the text held
    subs = [e for e in root.iter() if e.tag.endswith("sub")]
    phonemes = [e for e in root.iter() if e.tag.endswith("phoneme")]
    assert [e.get("alias") for e in subs] == ["engine x", "engine x"] and [e.text for e in subs] == ["nginx", "nginx"]
    assert [(e.get("alphabet"), e.get("ph")) for e in phonemes] == [("ipa", "ˈsiːkwəl")]
    assert "&amp;" in ssml and "&lt;tags&gt;" in ssml
    assert manifest.chunks[0].lexicon == ["SQL", "nginx"] and manifest.lexicon_version
    assert "nginx" in (tmp_path / "ssml.srt").read_text()  # viewers read the written form


def test_the_local_engine_says_the_respelling(prefect_api_url, tmp_path):
    lexicon = tmp_path / "words.yaml"
    lexicon.write_text("Ng: the quite extraordinarily long respelling of a short name\n", encoding="utf-8")
    plain = run(text="Ask Ng today.", output=str(tmp_path), name="plain", format="wav", loudness_lufs=None)
    said = run(
        text="Ask Ng today.", output=str(tmp_path), name="said", format="wav", loudness_lufs=None, lexicon=str(lexicon)
    )
    assert plain.chunks[0].key != said.chunks[0].key
    assert decoded_duration(said.audio, "wav", 24_000) > decoded_duration(plain.audio, "wav", 24_000) + 1.5
    assert "Ask Ng today." in (tmp_path / "said.srt").read_text()


@pytest.mark.parametrize("slug", ["openai-speech"])
def test_changing_one_entry_pays_only_for_the_chunks_with_its_word(prefect_api_url, emulator, tmp_path, slug):
    lexicon = tmp_path / "words.yaml"
    lexicon.write_text("Kubernetes: koo ber net ease\nPostgres: post gress\n", encoding="utf-8")
    paragraphs = [f"Paragraph {i} talks about the weather on day {i}." for i in range(20)]
    for i in (3, 9, 15):
        paragraphs[i] = f"Paragraph {i} mentions Kubernetes once."
    paragraphs[5] = "Paragraph five mentions Postgres."
    provider = save_block(slug, emulator.url, "lexicon-edit", chunk_characters=200)
    text = "\n\n".join(paragraphs)
    first = run(text=text, provider=provider, output=str(tmp_path), name="doc", lexicon=str(lexicon))
    assert len(first.chunks) == 20
    emulator.reset()
    lexicon.write_text("Kubernetes: koo burr net eez\nPostgres: post gress\n", encoding="utf-8")
    second = run(text=text, provider=provider, output=str(tmp_path), name="doc", lexicon=str(lexicon))
    assert [c.index for c in second.chunks if not c.cached] == [3, 9, 15]
    assert emulator.served("openai") == 3
    bodies = [r["body"]["input"] for r in emulator.recorded("openai")]
    assert all("koo burr net eez" in body and "Kubernetes" not in body for body in bodies)
    assert first.lexicon_version != second.lexicon_version


@pytest.mark.parametrize("slug", ["openai-speech", "maas-ospeech", "maas-nar", "maas-ele"])
def test_every_plain_text_provider_is_sent_the_respelling(prefect_api_url, emulator, tmp_path, slug):
    from tests.provider_blocks import ROUTE_OF

    lexicon = tmp_path / "words.yaml"
    lexicon.write_text("nginx: engine x\n", encoding="utf-8")
    provider = save_block(slug, emulator.url, f"lexicon-{slug}", chunk_characters=60)
    text = "The proxy is nginx. It serves the pages.\n\nThen nginx logs every request it answers."
    manifest = run(text=text, provider=provider, output=str(tmp_path), name="say", lexicon=str(lexicon))
    sent = " ".join(json.dumps(record.get("body"), ensure_ascii=False) for record in emulator.recorded(ROUTE_OF[slug]))
    assert "engine x" in sent and "nginx" not in sent
    assert [c.lexicon for c in manifest.chunks if "nginx" in _chunk_text(manifest, c)]
    assert (tmp_path / "say.srt").read_text().count("nginx") == 2


def _chunk_text(manifest, chunk) -> str:
    return " ".join(
        s.text
        for s in manifest.sentences
        if chunk.start_seconds <= s.start_seconds < chunk.start_seconds + chunk.duration_seconds
    )
