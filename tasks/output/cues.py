"""Subtitle cues a viewer can read: short on screen, few short lines, timed by the speech.

Subtitle practice (Netflix, BBC) keeps a cue at most 7 s on screen, in at most 2 lines of at most
42 characters (16 for Chinese and Japanese). A sentence that does not fit is split into several
cues, preferably at clause punctuation, else between words, else between characters; each piece
is timed by its words' times when the provider reported them, else by its share of characters
within the sentence's measured span. SRT and WebVTT files are written by `tasks.output.subtitle_files`.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from tasks.errors import NarrationInputError

# Han, kana and CJK punctuation/fullwidth forms: written without spaces, one character per step.
_CJK_CLASS = (
    "\u2e80-\u2fdf\u3001-\u303f\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f"
)
_CJK_CHAR = re.compile(f"[{_CJK_CLASS}]")
# Marks that must not start a line (kept with the character before) or end one (kept with the one after).
_CLOSING = "、。，．！？：；」』）】〉》〕］｝”’…‥・ー々!?,.:;)]}—"
_OPENING = "「『（【〈《〔［｛“‘([{"
_UNIT = re.compile(f"[{re.escape(_OPENING)}]*(?:[{_CJK_CLASS}]|[^\\s{_CJK_CLASS}—]+|—)[{re.escape(_CLOSING)}]*")
_CLAUSE_END = tuple(",;:—，；：、")
_STRONG_END = tuple("。！？!?")

# Penalty for cutting a sentence after a unit, by the kind of boundary (clause punctuation costs nothing).
_PENALTY_CLAUSE = 0.0
_PENALTY_SENTENCE = 0.1
_PENALTY_WORD = 0.3
_PENALTY_CJK_CHARACTER = 0.5
_PENALTY_HARD_CUT = 2.0
# Share of the proportional timing mixed in when a provider's word times give a piece no duration.
_DEGENERATE_BLEND = 0.05


@dataclass(frozen=True, slots=True)
class TimedWord:
    """A word as a provider timed it, in seconds from the start of the narration."""

    text: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class TimedSentence:
    """A sentence and the span of its speech; `words` (optional) time its words more finely."""

    text: str
    start: float
    end: float
    words: tuple[TimedWord, ...] = ()


@dataclass(frozen=True, slots=True)
class Cue:
    """One subtitle on screen: its time and its lines, top to bottom."""

    start_seconds: float
    end_seconds: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """The lines as running text: joined by a space, or by nothing between two CJK characters."""
        text = ""
        for line in self.lines:
            if text and not (_is_cjk(text[-1]) and _is_cjk(line[0])):
                text += " "
            text += line
        return text


def _is_cjk(character: str) -> bool:
    return bool(_CJK_CHAR.match(character))


@dataclass(frozen=True, slots=True)
class _Unit:
    """The smallest piece a line or cue may be cut around: a word, or one CJK character with its marks."""

    text: str
    joiner: str  # what separates it from the unit before: " " or ""
    start: int  # character offsets in the sentence text
    end: int
    cjk: int  # how many of its characters are CJK, to pick the line limit
    other: int


def _make_unit(text: str, joiner: str, start: int) -> _Unit:
    cjk = 0 if text.isascii() else len(_CJK_CHAR.findall(text))
    return _Unit(text, joiner, start, start + len(text), cjk, len(text) - cjk)


def _line_limit(cjk: int, other: int, line_characters: int, cjk_line_characters: int) -> int:
    return cjk_line_characters if cjk > other else line_characters


def _units(text: str, line_characters: int, cjk_line_characters: int) -> list[_Unit]:
    """Split text into units; a unit longer than a line is hard-cut into line-sized parts."""
    units: list[_Unit] = []
    previous_end = 0
    for match in _UNIT.finditer(text):
        joiner = " " if units and match.start() > previous_end else ""
        previous_end = match.end()
        unit = _make_unit(match.group(), joiner, match.start())
        limit = _line_limit(unit.cjk, unit.other, line_characters, cjk_line_characters)
        if len(unit.text) <= limit:
            units.append(unit)
            continue
        for offset in range(0, len(unit.text), limit):
            part = unit.text[offset : offset + limit]
            units.append(_make_unit(part, joiner if offset == 0 else "", unit.start + offset))
    return units


def _boundary_penalty(before: _Unit, after: _Unit) -> float:
    """What it costs to end a cue between two units: clause punctuation first, then words, then characters."""
    if before.text.endswith(_CLAUSE_END):
        return _PENALTY_CLAUSE
    if before.text.endswith(_STRONG_END):
        return _PENALTY_SENTENCE
    if after.joiner:
        return _PENALTY_WORD
    if before.cjk or after.cjk:
        return _PENALTY_CJK_CHARACTER
    return _PENALTY_HARD_CUT


class _Timeline:
    """Character offset in a sentence -> time, through anchors from word times (or only the span's ends).

    Between anchors time grows in proportion to characters. Where two anchors share an offset (the
    end of one word and the start of the next written without a space), a piece ending there takes
    the earlier time and a piece starting there the later one.
    """

    def __init__(self, anchors: list[tuple[int, float]]) -> None:
        anchors.sort()
        self._offsets = [offset for offset, _ in anchors]
        self._times: list[float] = []
        latest = -math.inf
        for _, time in anchors:
            latest = max(latest, time)
            self._times.append(latest)

    def at(self, offset: int, *, starting: bool) -> float:
        low = bisect.bisect_left(self._offsets, offset)
        high = bisect.bisect_right(self._offsets, offset)
        if low < high:
            return self._times[high - 1] if starting else self._times[low]
        if low == 0:
            return self._times[0]
        if low == len(self._offsets):
            return self._times[-1]
        x0, x1 = self._offsets[low - 1], self._offsets[low]
        t0, t1 = self._times[low - 1], self._times[low]
        return t0 + (t1 - t0) * (offset - x0) / (x1 - x0)


def _word_anchors(sentence: TimedSentence, first: int, last: int) -> list[tuple[int, float]]:
    """Anchor each provider word found, in order, in the sentence text (words not found are skipped)."""
    anchors: list[tuple[int, float]] = []
    text = sentence.text
    cursor = first
    for word in sentence.words:
        needle = word.text.strip()
        if not needle:
            continue
        position = text.find(needle, cursor, last)
        # A hit inside a longer Latin word ("a" in "cat") is not that word.
        while position > first and _inside_latin_word(text[position - 1], needle[0]):
            position = text.find(needle, position + 1, last)
        if position < 0:
            continue
        start = min(max(word.start, sentence.start), sentence.end)
        end = min(max(word.end, start), sentence.end)
        anchors.append((position, start))
        anchors.append((position + len(needle), end))
        cursor = position + len(needle)
    return anchors


def _inside_latin_word(before: str, first: str) -> bool:
    return before.isalnum() and first.isalnum() and not _is_cjk(before) and not _is_cjk(first)


def _check_time(field: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise NarrationInputError(field, f"times must be finite and not negative, got {value!r}")


def _check_sentences(sentences: Sequence[TimedSentence]) -> None:
    previous_end = 0.0
    for index, sentence in enumerate(sentences):
        field = f"sentences[{index}]"
        _check_time(field, sentence.start)
        _check_time(field, sentence.end)
        if sentence.end <= sentence.start:
            raise NarrationInputError(field, f"ends ({sentence.end}) before it starts ({sentence.start})")
        if sentence.start < previous_end:
            raise NarrationInputError(field, f"starts ({sentence.start}) before the previous one ends ({previous_end})")
        previous_end = sentence.end
        for word in sentence.words:
            if not (math.isfinite(word.start) and math.isfinite(word.end)):
                raise NarrationInputError(f"{field}.words", f"word {word.text!r} has a time that is not finite")


@dataclass(frozen=True, slots=True)
class _Limits:
    max_seconds: float
    max_lines: int
    line_characters: int
    cjk_line_characters: int


class _Measure:
    """Prefix sums over a sentence's units, so any run's length and script mix costs O(1)."""

    def __init__(self, units: Sequence[_Unit], limits: _Limits) -> None:
        self.units = units
        self.limits = limits
        self._length = [0]
        self._cjk = [0]
        self._other = [0]
        for unit in units:
            self._length.append(self._length[-1] + len(unit.joiner) + len(unit.text))
            self._cjk.append(self._cjk[-1] + unit.cjk)
            self._other.append(self._other[-1] + unit.other)

    def length(self, i: int, j: int) -> int:
        """Characters of units[i:j] written on one line (the first unit's joiner dropped)."""
        return self._length[j] - self._length[i] - len(self.units[i].joiner)

    def limit(self, i: int, j: int) -> int:
        """The line limit for units[i:j]: the CJK one when most of its characters are CJK."""
        return _line_limit(
            self._cjk[j] - self._cjk[i],
            self._other[j] - self._other[i],
            self.limits.line_characters,
            self.limits.cjk_line_characters,
        )

    def text(self, i: int, j: int) -> str:
        units = self.units
        return units[i].text + "".join(unit.joiner + unit.text for unit in units[i + 1 : j])

    def greedy_fits(self, i: int) -> Iterator[bool]:
        """For units[i:i+1], units[i:i+2], …: whether greedy filling needs at most max_lines lines.

        Greedy filling never needs more lines than the fewest possible when every line has one
        limit; where CJK and Latin lines mix it may need more, which only splits a sentence once more.
        """
        lines = 0
        line_start = i
        for j in range(i + 1, len(self.units) + 1):
            if not lines or self.length(line_start, j) > self.limit(line_start, j):
                lines += 1
                line_start = j - 1
            yield lines <= self.limits.max_lines

    def greedy_lines(self, i: int, j: int) -> list[tuple[int, int]]:
        lines = [(i, i + 1)]
        for end in range(i + 2, j + 1):
            start = lines[-1][0]
            if self.length(start, end) <= self.limit(start, end):
                lines[-1] = (start, end)
            else:
                lines.append((end - 1, end))
        return lines

    def _second_line_start(self, i: int, j: int) -> int | None:
        """Where the second line starts in the best two-line layout of units[i:j], or None if two lines cannot hold it.

        The search below restricted to two lines, written out (most runs need exactly two): the same
        costs, and on a tie the same choice (the later break).
        """
        best_cost, best_start = math.inf, None
        for start in range(j - 1, i, -1):
            length = self.length(start, j)
            limit = self.limit(start, j)
            if length > limit:
                if length > max(self.limits.line_characters, self.limits.cjk_line_characters):
                    break
                continue
            first = self.length(i, start)
            if first > self.limit(i, start):
                continue
            cost = first**2 + length**2 + _boundary_penalty(self.units[start - 1], self.units[start]) * limit**2 / 2
            if cost < best_cost:
                best_cost, best_start = cost, start
        return best_start

    def layout(self, i: int, j: int) -> tuple[str, ...]:
        """The fewest lines that hold units[i:j]: balanced (least sum of squared lengths), broken after clauses."""
        if self.length(i, j) <= self.limit(i, j):
            return (self.text(i, j),)  # one line holds it: no layout has fewer lines
        if self.limits.max_lines >= 2 and (second := self._second_line_start(i, j)) is not None:
            return (self.text(i, second), self.text(second, j))
        longest = max(self.limits.line_characters, self.limits.cjk_line_characters)
        inf = (math.inf, 0)
        # best[k][e]: least cost of laying units[i:e] out in k lines, and where the last line starts.
        best: list[list[tuple[float, int]]] = [[inf] * (j + 1)]
        best[0][i] = (0.0, i)
        for lines in range(1, self.limits.max_lines + 1):
            row = [inf] * (j + 1)
            for end in range(i + 1, j + 1):
                for start in range(end - 1, i - 1, -1):
                    length = self.length(start, end)
                    if length > longest:
                        break
                    previous = best[lines - 1][start][0]
                    limit = self.limit(start, end)
                    if previous < math.inf and length <= limit:
                        cost = previous + length**2
                        if start > i:  # a line break costs like a cut: after a clause is best
                            cost += _boundary_penalty(self.units[start - 1], self.units[start]) * limit**2 / 2
                        if cost < row[end][0]:
                            row[end] = (cost, start)
            best.append(row)
            if row[j][0] < math.inf:
                breaks = [j]
                for k in range(lines, 0, -1):
                    breaks.append(best[k][breaks[-1]][1])
                breaks.reverse()
                return tuple(self.text(a, b) for a, b in zip(breaks, breaks[1:], strict=False))
        # Only when greedy filling found lines the search above did not (it never does): use them.
        return tuple(self.text(a, b) for a, b in self.greedy_lines(i, j))


def _cut_points(measure: _Measure, starts: list[float], ends: list[float], limits: _Limits) -> list[tuple[int, int]]:
    """The pieces (unit ranges) of a sentence too long for one cue: fewest pieces, then least penalty.

    A dynamic programme over cut points; the penalty adds the kind of cut and the pieces' imbalance.
    """
    units, count = measure.units, len(measure.units)
    best: list[tuple[int, float, int]] = [(0, 0.0, 0)] + [(count + 1, math.inf, 0)] * count
    for i in range(count):
        if best[i][1] == math.inf:
            continue
        for j, fits in enumerate(measure.greedy_fits(i), start=i + 1):
            duration = ends[j - 1] - starts[i]
            if j > i + 1 and (not fits or duration > limits.max_seconds):
                break
            capacity = limits.max_lines * measure.limit(i, j)
            cost = (measure.length(i, j) / capacity) ** 2 + (duration / limits.max_seconds) ** 2
            if j < count:
                cost += _boundary_penalty(units[j - 1], units[j])
            candidate = (best[i][0] + 1, best[i][1] + cost, i)
            if candidate[:2] < best[j][:2]:
                best[j] = candidate
    cuts = [count]
    while cuts[-1]:
        cuts.append(best[cuts[-1]][2])
    cuts.reverse()
    return list(zip(cuts, cuts[1:], strict=False))


def _split_sentence(sentence: TimedSentence, limits: _Limits) -> list[Cue]:
    """The cues of one sentence: as few as fit the limits, cut where reading breaks least."""
    units = _units(sentence.text, limits.line_characters, limits.cjk_line_characters)
    if not units:
        return []
    measure = _Measure(units, limits)
    first, last = units[0].start, units[-1].end
    span = [(first, sentence.start), (last, sentence.end)]
    proportional = _Timeline(list(span))
    timed = _Timeline(span + _word_anchors(sentence, first, last)) if sentence.words else proportional
    count = len(units)
    spoken = timed.at(units[-1].end, starting=False) - timed.at(units[0].start, starting=True)
    if count == 1 or (spoken <= limits.max_seconds and all(measure.greedy_fits(0))):
        pieces = [(0, count)]  # the whole sentence fits one cue: no cut can do better than none
    else:
        starts = [timed.at(unit.start, starting=True) for unit in units]
        ends = [timed.at(unit.end, starting=False) for unit in units]
        pieces = _cut_points(measure, starts, ends, limits)

    def times(timeline: _Timeline) -> list[tuple[float, float]]:
        return [
            (timeline.at(units[i].start, starting=True), timeline.at(units[j - 1].end, starting=False))
            for i, j in pieces
        ]

    spans = times(timed)
    if any(end <= start for start, end in spans):
        # Word times that give a piece no duration (zero-length or repeated times): lean a little
        # on the character share, which gives every piece some time.
        blend = _DEGENERATE_BLEND
        spans = [
            (a + blend * (c - a), b + blend * (d - b))
            for (a, b), (c, d) in zip(spans, times(proportional), strict=True)
        ]
    cues: list[Cue] = []
    for (i, j), (start, end) in zip(pieces, spans, strict=True):
        # Rounding must not move a piece outside its sentence or before the piece ahead of it.
        start = max(start, sentence.start, cues[-1].end_seconds if cues else start)
        end = min(end, sentence.end)
        # A single unit spoken longer than a cue may stay: shown for the first max_seconds of it.
        cues.append(Cue(start, min(end, start + limits.max_seconds), measure.layout(i, j)))
    return cues


def _with_gaps(cues: list[Cue], min_gap_seconds: float) -> list[Cue]:
    """Open a short gap between touching cues by ending the earlier one sooner, never starting one sooner.

    A cue keeps at least half of its time; where it cannot, the cues stay touching.
    """
    spaced = list(cues)
    for index in range(len(spaced) - 1):
        current, following = spaced[index], spaced[index + 1]
        if following.start_seconds - current.end_seconds >= min_gap_seconds:
            continue
        end = following.start_seconds - min_gap_seconds
        if end - current.start_seconds >= (current.end_seconds - current.start_seconds) / 2:
            spaced[index] = replace(current, end_seconds=end)
    return spaced


def shape_cues(
    sentences: Sequence[TimedSentence],
    *,
    max_seconds: float = 7.0,
    max_lines: int = 2,
    line_characters: int = 42,
    cjk_line_characters: int = 16,
    min_gap_seconds: float = 2 / 24,
) -> list[Cue]:
    """Cues for timed sentences: one per sentence that fits, else as few readable pieces as fit.

    For any valid input: every cue lasts at most `max_seconds`, every line is within its limit
    (`cjk_line_characters` for mostly-CJK lines), cues are in order, do not overlap, start before
    they end, and together hold every word of the sentences in order. Sentences must be in order
    and not overlap; `min_gap_seconds` (two frames at 24 fps) separates touching cues where that
    costs a cue at most half its time.
    """
    if not (math.isfinite(max_seconds) and max_seconds > 0):
        raise NarrationInputError("max_seconds", f"must be a positive number of seconds, got {max_seconds!r}")
    for field, value in (
        ("max_lines", max_lines),
        ("line_characters", line_characters),
        ("cjk_line_characters", cjk_line_characters),
    ):
        if value < 1:
            raise NarrationInputError(field, f"must be at least 1, got {value!r}")
    if not (math.isfinite(min_gap_seconds) and min_gap_seconds >= 0):
        raise NarrationInputError("min_gap_seconds", f"must be 0 or more seconds, got {min_gap_seconds!r}")
    _check_sentences(sentences)
    limits = _Limits(max_seconds, max_lines, line_characters, cjk_line_characters)
    cues = [cue for sentence in sentences for cue in _split_sentence(sentence, limits)]
    return _with_gaps(cues, min_gap_seconds)
