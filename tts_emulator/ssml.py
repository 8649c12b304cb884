"""What an SSML document speaks, as Azure reads it: the text of its <voice> elements, with <sub> and <phoneme>.

`<sub alias="…">written</sub>` speaks the alias; `<phoneme alphabet="ipa" ph="…">written</phoneme>` speaks the
written text here (the emulator has no phoneme engine) once `alphabet` (ipa when absent) and `ph` are valid. The spoken text is
what is billed. A document that is not well-formed, not rooted in <speak>, or has no named voice is a 400.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

from tts_emulator.guard import Rejection

PHONEME_ALPHABETS = ("ipa", "sapi", "ups")


@dataclass(frozen=True)
class Ssml:
    text: str  # what is spoken (and billed)
    voice: str  # the first <voice>'s name


def _invalid(message: str) -> Rejection:
    return Rejection(400, "invalid_ssml", message, "input")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _spoken(element: ElementTree.Element, out: list[str]) -> None:
    """Append what `element` speaks (not its tail, which belongs to the parent)."""
    name = _local(element.tag)
    if name == "sub":
        alias = element.get("alias")
        if not alias:
            raise _invalid("<sub> needs a non-empty alias attribute.")
        out.append(alias)
        return
    if name == "phoneme":
        alphabet = element.get("alphabet", "ipa")
        if alphabet not in PHONEME_ALPHABETS:
            raise _invalid(f"<phoneme> alphabet must be one of {', '.join(PHONEME_ALPHABETS)}; got {alphabet!r}.")
        if not (element.get("ph") or "").strip():
            raise _invalid("<phoneme> needs a non-empty ph attribute.")
    if element.text:
        out.append(element.text)
    for child in element:
        _spoken(child, out)
        if child.tail:
            out.append(child.tail)


def parse_ssml(document: str) -> Ssml:
    """The spoken text and voice of `document`, or a Rejection as Azure would answer."""
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError as error:
        raise _invalid(f"The SSML document is not well-formed XML: {error}.") from None
    if _local(root.tag) != "speak":
        raise _invalid("The SSML root element must be <speak>.")
    voices = [element for element in root if _local(element.tag) == "voice"]
    if not voices or not all(voice.get("name") for voice in voices):
        raise _invalid("The SSML document needs a <voice name='…'> element around its text.")
    out: list[str] = []
    for voice in voices:
        _spoken(voice, out)
    return Ssml("".join(out), voices[0].get("name", ""))
