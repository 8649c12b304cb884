"""A pronunciation lexicon: how a document's words are said, for providers that would say them wrong.

A lexicon maps a written form (`nginx`, `SQL`, `C++`, `你好`) to a respelling (`engine x`) and, optionally,
IPA. It is read from YAML (`nginx: engine x`, `SQL: {say: sequel, ipa: ˈsiːkwəl}`) or CSV (header
`written,say,ipa`), and applied in one of two ways: respelled plain text for engines that take text (with a
way back from respelled positions to written ones, for cue timings), or SSML `<sub>`/`<phoneme>` for
engines that take SSML. Pure text work: no Prefect, no audio.

Matching is case-sensitive. Where a written form begins or ends with a letter or digit of a script written
with spaces, it matches only as a whole word there (so `nginx` is found in `"nginx's"` and `<nginx>` but
not in `nginxs`, and `C++` and `Node.js` work as written); Chinese, Japanese and other scripts written
without spaces match as plain substrings. Where matches overlap, the longest wins (the earlier one on a
tie); the matches returned never overlap and run left to right.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any
from xml.sax.saxutils import escape as _xml_escape
from xml.sax.saxutils import quoteattr

import ahocorasick
import yaml

from tasks.errors import NarrationInputError

FIELD = "lexicon"
CSV_COLUMNS = ("written", "say", "ipa")
ENTRY_KEYS = frozenset({"say", "ipa"})
YAML_SUFFIXES = (".yaml", ".yml")
YAML_STRING = "tag:yaml.org,2002:str"
YAML_NULL = "tag:yaml.org,2002:null"

# Scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, kana, Han (with its extensions and
# compatibility forms), halfwidth katakana. A written form's edge in one of these needs no word boundary.
_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3005-\u3007\u3021-\u3029\u3040-\u30ff\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003ffff]"
)
# Characters XML 1.0 cannot hold at all, not even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class LexiconError(NarrationInputError):
    """A lexicon that cannot be used, naming the file and, where there is one, the line (1-based)."""

    def __init__(self, name: str, line: int | None, message: str) -> None:
        self.name = name
        self.line = line
        super().__init__(FIELD, f"{name}{f' line {line}' if line else ''}: {message}")


@dataclass(frozen=True)
class Entry:
    """How one written form is said: a respelling any engine can speak, and IPA where an engine takes it."""

    written: str
    say: str
    ipa: str | None = None

    def __post_init__(self) -> None:
        if not self.written or not self.say or self.ipa == "":
            raise ValueError(f"an entry needs a written form and a respelling, and IPA that is not empty: {self!r}")

    def canonical(self) -> dict[str, str]:
        """What of the entry shapes the sound, as chunk keys and the lexicon's version hold it."""
        return {"say": self.say} | ({"ipa": self.ipa} if self.ipa is not None else {})


@dataclass(frozen=True)
class Match:
    """An entry found in a text: `text[start:end] == entry.written`."""

    start: int
    end: int
    entry: Entry


def is_word_character(character: str) -> bool:
    """A character that continues a word of a script written with spaces (letters, digits, marks, `_`)."""
    if _UNSPACED.match(character):
        return False
    return character.isalnum() or character == "_" or unicodedata.category(character).startswith("M")


def is_boundary(text: str, position: int) -> bool:
    """True where a word of a spaced script neither begins before nor ends after `position`."""
    if position <= 0 or position >= len(text):
        return True
    return not (is_word_character(text[position - 1]) and is_word_character(text[position]))


@dataclass(frozen=True)
class Lexicon:
    """Entries by written form, with matching in texts and a version that changes whenever a sound does."""

    entries: Mapping[str, Entry]
    name: str = "lexicon"

    @classmethod
    def of(cls, entries: Iterable[Entry], name: str = "lexicon") -> Lexicon:
        """A lexicon of `entries`; written forms must be unique."""
        by_written: dict[str, Entry] = {}
        for entry in entries:
            if entry.written in by_written:
                raise ValueError(f"{entry.written!r} is in {name} twice")
            by_written[entry.written] = entry
        return cls(MappingProxyType(by_written), name)

    @cached_property
    def version(self) -> str:
        """sha256 of the entries in canonical form: the same for the same entries whatever the file's format or order."""
        canonical = json.dumps(
            {written: entry.canonical() for written, entry in self.entries.items()},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @cached_property
    def _automaton(self) -> Any:
        """Aho-Corasick over every written form: all occurrences in one pass, however many entries."""
        automaton = ahocorasick.Automaton()
        for written in self.entries:
            automaton.add_word(written, written)
        automaton.make_automaton()
        return automaton

    def _occurrences(self, text: str) -> Iterable[tuple[int, int, str]]:
        """Every occurrence of every written form, overlapping ones included, where its edges are word boundaries."""
        if not self.entries or not text:
            return
        for last, written in self._automaton.iter(text):
            start, end = last + 1 - len(written), last + 1
            # An edge that is a spaced script's word character must not run on into more of a word.
            if is_word_character(written[0]) and not is_boundary(text, start):
                continue
            if is_word_character(written[-1]) and not is_boundary(text, end):
                continue
            yield start, end, written

    def find(self, text: str) -> list[Match]:
        """The entries to apply in `text`: non-overlapping, left to right; where occurrences overlap, the longest."""
        taken = bytearray(len(text))
        chosen = []
        for start, end, written in sorted(self._occurrences(text), key=lambda o: (o[0] - o[1], o[0])):
            if taken.find(1, start, end) == -1:
                taken[start:end] = b"\x01" * (end - start)
                chosen.append(Match(start, end, self.entries[written]))
        return sorted(chosen, key=lambda match: match.start)

    def entries_in(self, text: str) -> dict[str, Entry]:
        """The entries applied in `text` (what its chunk key needs: an edit of any other entry leaves it alone)."""
        return {match.entry.written: match.entry for match in self.find(text)}


# --- Reading -------------------------------------------------------------------------------------------------


def load_lexicon(data: bytes, name: str) -> Lexicon:
    """A lexicon from a YAML (`.yaml`, `.yml`) or CSV (`.csv`) file's bytes; a bad entry is refused by its line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise LexiconError(name, line, "is not UTF-8 text") from None
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in YAML_SUFFIXES:
        rows = _yaml_rows(text, name)
    elif suffix == ".csv":
        rows = _csv_rows(text, name)
    else:
        raise LexiconError(name, None, "must be a .yaml, .yml or .csv file")
    first_line: dict[str, int] = {}
    entries = []
    for line, written, say, ipa in rows:
        if not written.strip():
            raise LexiconError(name, line, "the written form is empty")
        if written != written.strip():
            raise LexiconError(name, line, f"the written form {written!r} begins or ends with white space")
        if written in first_line:
            raise LexiconError(name, line, f"{written!r} is already given on line {first_line[written]}")
        if say is None or not say.strip():
            raise LexiconError(name, line, f"{written!r} has no respelling ('say')")
        if ipa is not None and not ipa.strip():
            raise LexiconError(name, line, f"{written!r} has an empty 'ipa': give IPA or leave it out")
        for what, value in (("written form", written), ("say", say), ("ipa", ipa)):
            if value is not None and _NOT_XML.search(value):
                raise LexiconError(name, line, f"the {what} of {written!r} holds a control character")
        first_line[written] = line
        entries.append(Entry(written, say.strip(), ipa.strip() if ipa is not None else None))
    return Lexicon.of(entries, name)


Row = tuple[int, str, str | None, str | None]  # line, written, say, ipa


def _yaml_rows(text: str, name: str) -> list[Row]:
    """Rows from YAML, composed (not constructed) so every entry keeps its line and duplicates stay visible."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise LexiconError(name, mark.line + 1 if mark else None, f"is not valid YAML ({error.problem})") from None
    except yaml.YAMLError as error:
        raise LexiconError(name, None, f"is not valid YAML ({error})") from None
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise LexiconError(name, _line(root), "must be a mapping of written forms to respellings")
    rows = []
    for key, value in root.value:
        line = _line(key)
        written = _scalar_text(key)
        if written is None:
            shown = f" (quote {key.value!r} to mean the word)" if isinstance(key, yaml.ScalarNode) and key.value else ""
            raise LexiconError(name, line, f"a written form must be text{shown}")
        if isinstance(value, yaml.MappingNode):
            fields: dict[str, str | None] = {}
            for field_key, field_value in value.value:
                field_name = _scalar_text(field_key)
                if field_name not in ENTRY_KEYS:
                    raise LexiconError(name, _line(field_key), f"{written!r}: unknown key {field_name!r} (say, ipa)")
                if not isinstance(field_value, yaml.ScalarNode):
                    raise LexiconError(name, _line(field_value), f"{written!r}: {field_name} must be text")
                fields[field_name] = _scalar_text(field_value)
            rows.append((line, written, fields.get("say"), fields.get("ipa")))
        elif isinstance(value, yaml.ScalarNode):
            rows.append((line, written, _scalar_text(value), None))
        else:
            raise LexiconError(name, line, f"{written!r} must map to a respelling or to {{say: …, ipa: …}}")
    return rows


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _scalar_text(node: yaml.Node) -> str | None:
    """A scalar's text as written: `no`, `1e3` or `NaN` are words here, not YAML's booleans and numbers."""
    if not isinstance(node, yaml.ScalarNode) or (node.tag == YAML_NULL and node.style is None):
        return None
    return node.value


def _csv_rows(text: str, name: str) -> list[Row]:
    """Rows from CSV with the header `written,say,ipa` (`ipa` may be left out), lines counted as the file's."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, skipinitialspace=True)
    rows = []
    try:
        header = next(reader, None)
        if header is None:
            return []
        if tuple(header) not in (CSV_COLUMNS, CSV_COLUMNS[:2]):
            raise LexiconError(
                name, reader.line_num, f"the header must be {','.join(CSV_COLUMNS)}, not {','.join(header)}"
            )
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1  # a quoted cell may span lines: name the row's first
            if not cells:
                continue  # a blank line
            if len(cells) > len(header):
                raise LexiconError(name, line, f"{len(cells)} cells; the header has {len(header)}")
            written, say, ipa = (*cells, None, None)[:3]
            rows.append((line, written, say, ipa or None))
    except csv.Error as error:
        raise LexiconError(name, reader.line_num, f"is not valid CSV ({error})") from None
    return rows


# --- Applying ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Respelling:
    """Where one match's respelling lies in the respelled text, and its written form in the written text."""

    respelled_start: int
    respelled_end: int
    written_start: int
    written_end: int


@dataclass(frozen=True)
class Respelled:
    """A text with its matches respelled, and the way back from respelled positions to written ones."""

    text: str
    offsets: tuple[Respelling, ...] = ()
    _starts: list[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", [r.respelled_start for r in self.offsets])

    def to_written(self, position: int, *, end: bool = False) -> int:
        """The written text's position for `position` in the respelled text.

        Outside respellings, the same character; inside one, the start of its written form (`end=True`: the end,
        for the end of a cue), so a cue never splits a written word. Non-decreasing in `position`.
        """
        if not 0 <= position <= len(self.text):
            raise ValueError(f"position {position} is outside the respelled text (0 to {len(self.text)})")
        index = bisect_right(self._starts, position) - 1
        if index < 0:
            return position
        found = self.offsets[index]
        if position == found.respelled_start:
            return found.written_start
        if position < found.respelled_end:
            return found.written_end if end else found.written_start
        return found.written_end + position - found.respelled_end


def respell(text: str, matches: Iterable[Match]) -> Respelled:
    """`text` with every match replaced by its respelling (for engines that take plain text)."""
    pieces: list[str] = []
    offsets: list[Respelling] = []
    written_at = respelled_at = 0
    for match in matches:
        pieces.append(text[written_at : match.start])
        respelled_at += match.start - written_at
        pieces.append(match.entry.say)
        offsets.append(Respelling(respelled_at, respelled_at + len(match.entry.say), match.start, match.end))
        respelled_at += len(match.entry.say)
        written_at = match.end
    pieces.append(text[written_at:])
    return Respelled("".join(pieces), tuple(offsets))


def escape_text(text: str) -> str:
    """Text as SSML character data: markup escaped, `\\r` kept (parsers turn a bare one into `\\n`), and the
    characters XML cannot hold at all replaced by spaces."""
    return _xml_escape(_NOT_XML.sub(" ", text), {"\r": "&#13;"})


def _attribute(value: str) -> str:
    return quoteattr(_NOT_XML.sub(" ", value))


def to_ssml(text: str, matches: Iterable[Match], escape: Callable[[str], str] = escape_text) -> str:
    """SSML content for `text` (to go inside `<speak>` or `<voice>`): each piece of text escaped on its own, each
    match a `<phoneme alphabet="ipa">` (where it has IPA; its content, the respelling, is what an engine
    without phonemes says) or a `<sub alias="respelling">` around the written form."""
    parts: list[str] = []
    written_at = 0
    for match in matches:
        parts.append(escape(text[written_at : match.start]))
        entry = match.entry
        if entry.ipa is not None:
            parts.append(f'<phoneme alphabet="ipa" ph={_attribute(entry.ipa)}>{escape(entry.say)}</phoneme>')
        else:
            parts.append(f"<sub alias={_attribute(entry.say)}>{escape(text[match.start : match.end])}</sub>")
        written_at = match.end
    parts.append(escape(text[written_at:]))
    return "".join(parts)
