"""Cue shaping: the reading limits hold for any input, cuts fall where reading breaks least, SRT/VTT read back."""

from __future__ import annotations

import html
import io
import math
import unicodedata

import fsspec
import pysubs2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.errors import NarrationInputError
from tasks.output.cues import Cue, TimedSentence, TimedWord, shape_cues
from tasks.output.publishing import write_subtitle_file
from tasks.output.subtitle_files import SUBTITLE_FORMATS, _event, write_subtitles


def is_cjk(character: str) -> bool:
    # Independent of the module's own character table: wide and fullwidth characters, not emoji.
    return unicodedata.east_asian_width(character) in "WF" and ord(character) < 0x1F000


def line_limit(line: str, latin: int, cjk: int) -> int:
    characters = [c for c in line if not c.isspace()]
    wide = sum(map(is_cjk, characters))
    return cjk if wide > len(characters) - wide else latin


def squeeze(text: str) -> str:
    return "".join(text.split())


# ---------------------------------------------------------------- properties for any input

LATIN = ["Hello", "world,", "Dr.", "Smith;", "1,234,567", "e.g.", "a", "naïve", "x" * 61, "—", "well:", "ends."]


def rendered(cues: list[Cue], kind: str) -> str:
    text = io.StringIO()
    write_subtitles(cues, kind, text)
    return text.getvalue()


AWKWARD = ["a-->b", "<b>bold</b>", "AT&T", "{curly}", r"C:\new", r"\N", "🙂"]
CJK = ["你好", "世界。", "今天天气很好，", "東京", "カタカナ、", "「引用」", "我用", "天" * 40]

token = st.sampled_from(LATIN + AWKWARD + CJK)
sentence_text = st.lists(st.tuples(token, st.sampled_from([" ", "", "  "])), min_size=1, max_size=24).map(
    lambda parts: "".join(word + space for word, space in parts)
)


@st.composite
def timed_sentences(draw) -> list[TimedSentence]:
    sentences = []
    clock = draw(st.floats(0, 100))
    for text in draw(st.lists(sentence_text, min_size=1, max_size=3)):
        clock += draw(st.sampled_from([0.0, 0.01, 0.3, 2.0]))
        duration = draw(st.floats(0.001, 90))
        start, end = clock, clock + duration
        words: tuple[TimedWord, ...] = ()
        if draw(st.booleans()):
            # Provider words: real and made-up words, times anywhere near the sentence, maybe out of order.
            names = st.sampled_from([*text.split(), "nonsense", "a", "天"])
            times = st.floats(start - 1, end + 1)
            words = tuple(
                TimedWord(name, t, t + d)
                for name, t, d in draw(st.lists(st.tuples(names, times, st.floats(0, 3)), max_size=12))
            )
        sentences.append(TimedSentence(text, start, end, words))
        clock = end
    return sentences


limits = st.fixed_dictionaries(
    {
        "max_seconds": st.sampled_from([0.5, 2.0, 7.0]),
        "max_lines": st.integers(1, 3),
        "line_characters": st.sampled_from([5, 20, 42]),
        "cjk_line_characters": st.sampled_from([3, 16]),
    }
)


@settings(max_examples=100, deadline=None)
@given(timed_sentences(), limits)
def test_every_cue_is_readable_in_order_and_keeps_every_word(sentences, options):
    cues = shape_cues(sentences, **options)
    for cue in cues:
        assert cue.start_seconds < cue.end_seconds
        assert cue.end_seconds - cue.start_seconds <= options["max_seconds"] + 1e-9
        assert 1 <= len(cue.lines) <= options["max_lines"]
        for line in cue.lines:
            assert line and line == line.strip()
            assert len(line) <= line_limit(line, options["line_characters"], options["cjk_line_characters"]), line
    for earlier, later in zip(cues, cues[1:], strict=False):
        assert earlier.end_seconds <= later.start_seconds
    assert cues[0].start_seconds >= sentences[0].start
    assert cues[-1].end_seconds <= sentences[-1].end
    assert squeeze("".join(cue.text for cue in cues)) == squeeze("".join(s.text for s in sentences))


plain_words = st.lists(
    st.sampled_from(["Hello", "world,", "Dr.", "Smith;", "1,234,567", "naïve", "a", "well:"]), min_size=1
)


@settings(max_examples=60, deadline=None)
@given(st.lists(plain_words, min_size=1, max_size=4), st.floats(0.2, 40), st.integers(1, 2))
def test_words_that_fit_a_line_are_never_cut(sentence_words, seconds, max_lines):
    sentences = [
        TimedSentence(" ".join(words), index * seconds, (index + 1) * seconds)
        for index, words in enumerate(sentence_words)
    ]
    cues = shape_cues(sentences, max_lines=max_lines)
    assert " ".join(cue.text for cue in cues).split() == [word for words in sentence_words for word in words]


# ---------------------------------------------------------------- decision tables


def test_a_sentence_that_fits_is_one_cue_on_the_fewest_lines():
    short = "Hello there, world."
    long = "This sentence is a little longer than one subtitle line allows."  # 63 characters
    cues = shape_cues([TimedSentence(short, 1.0, 2.5), TimedSentence(long, 3.0, 6.0)])
    assert [cue.lines for cue in cues] == [
        (short,),
        ("This sentence is a little longer", "than one subtitle line allows."),  # 32 + 30, not 37 + 25
    ]
    assert [(cue.start_seconds, cue.end_seconds) for cue in cues] == [(1.0, 2.5), (3.0, 6.0)]


@pytest.mark.parametrize(
    ("text", "seconds", "expected"),
    [
        # Too long for 2 x 42: cut at the comma even though the halves are not even.
        (
            "The committee met on Tuesday to review the budget, and everyone agreed to postpone the vote.",
            5.0,
            ["The committee met on Tuesday to review the budget,", "and everyone agreed to postpone the vote."],
        ),
        # No clause punctuation: cut between words, into balanced halves.
        (
            "The quick brown fox jumps over the lazy dog and then runs far away into the dark green forest",
            5.0,
            ["The quick brown fox jumps over the lazy dog and", "then runs far away into the dark green forest"],
        ),
        # Short text spoken slowly: cut for time alone, at the semicolon.
        ("Wait; then we go.", 10.0, ["Wait;", "then we go."]),
        # Chinese: 16 characters a line, cut after the CJK comma.
        (
            "今天天气很好，我们一起去公园散步吧，然后再去吃饭，最后回家休息一下。",
            6.0,
            ["今天天气很好，我们一起去公园散步吧，", "然后再去吃饭，最后回家休息一下。"],
        ),
    ],
)
def test_long_sentences_are_cut_where_reading_breaks_least(text, seconds, expected):
    cues = shape_cues([TimedSentence(text, 0.0, seconds)])
    assert [cue.text for cue in cues] == expected


def test_cjk_lines_use_the_cjk_limit_and_join_without_spaces():
    text = "我们还要去看一部很长很长的电影然后回家"  # 19 characters, no punctuation: two lines
    (cue,) = shape_cues([TimedSentence(text, 0.0, 3.0)])
    assert len(cue.lines) == 2 and all(len(line) <= 16 for line in cue.lines)
    assert cue.text == text


def test_pieces_without_word_times_are_timed_by_their_share_of_characters():
    first, second = "one two three four five six seven,", "eight nine ten eleven twelve thirteen."
    cues = shape_cues([TimedSentence(f"{first} {second}", 10.0, 14.0)], max_seconds=3.0, min_gap_seconds=0)
    assert [cue.text for cue in cues] == [first, second]
    total = len(first) + 1 + len(second)
    assert cues[0].start_seconds == 10.0 and cues[1].end_seconds == 14.0
    # The first piece ends after its own characters, the second starts after the space.
    assert cues[0].end_seconds == pytest.approx(10.0 + 4.0 * len(first) / (total - 1), abs=0.1)
    assert cues[1].start_seconds - cues[0].end_seconds == pytest.approx(4.0 / (total - 1), abs=0.001)


def test_pieces_with_word_times_start_and_end_with_their_words():
    text = "alpha beta gamma delta epsilon zeta eta theta"
    words = tuple(
        TimedWord(word, 1.0 + 2.0 * index, 1.0 + 2.0 * index + 1.5) for index, word in enumerate(text.split())
    )
    cues = shape_cues([TimedSentence(text, 0.5, 17.0, words)])
    position = 0
    for cue in cues:
        n = len(cue.text.split())
        assert cue.start_seconds == words[position].start
        assert cue.end_seconds == pytest.approx(words[position + n - 1].end)
        position += n
    assert position == len(words)
    assert all(cue.end_seconds - cue.start_seconds <= 7.0 for cue in cues)


def test_words_not_found_in_the_text_or_inside_other_words_are_ignored():
    # "a" must not anchor inside "cat"; "ghost" is not in the text at all.
    text = "the cat sat"
    words = (TimedWord("ghost", 0.0, 0.1), TimedWord("a", 0.2, 0.3), TimedWord("sat", 2.0, 3.0))
    (cue,) = shape_cues([TimedSentence(text, 0.0, 3.0, words)])
    assert (cue.start_seconds, cue.end_seconds) == (0.0, 3.0)


def test_a_single_word_spoken_too_long_is_shown_for_max_seconds():
    (cue,) = shape_cues([TimedSentence("Hmmmm.", 2.0, 12.0)], max_seconds=7.0)
    assert (cue.start_seconds, cue.end_seconds, cue.lines) == (2.0, 9.0, ("Hmmmm.",))


def test_a_word_longer_than_a_line_is_hard_cut():
    word = "x" * 100
    cues = shape_cues([TimedSentence(word, 0.0, 2.0)])
    assert [len(line) for cue in cues for line in cue.lines] == [42, 42, 16]
    assert "".join(line for cue in cues for line in cue.lines) == word


@pytest.mark.parametrize(
    ("first_end", "second_start", "expected_first_end"),
    [
        (2.0, 2.0, 2.0 - 2 / 24),  # touching: the earlier cue ends two frames sooner
        (2.0, 2.05, 2.05 - 2 / 24),  # too close: likewise
        (2.0, 2.5, 2.0),  # far enough apart: unchanged
        (1.1, 1.1, 1.1),  # a 0.1 s cue would lose most of its time: left touching
    ],
)
def test_touching_cues_get_a_gap_only_by_ending_the_earlier_one_sooner(first_end, second_start, expected_first_end):
    first, second = shape_cues([TimedSentence("One.", 1.0, first_end), TimedSentence("Two.", second_start, 4.0)])
    assert first.end_seconds == pytest.approx(expected_first_end)
    assert (first.start_seconds, second.start_seconds, second.end_seconds) == (1.0, second_start, 4.0)


@pytest.mark.parametrize(
    ("sentences", "options", "field"),
    [
        ([TimedSentence("a", 1.0, 1.0)], {}, "sentences[0]"),
        ([TimedSentence("a", 0.0, 2.0), TimedSentence("b", 1.5, 3.0)], {}, "sentences[1]"),
        ([TimedSentence("a", math.nan, 1.0)], {}, "sentences[0]"),
        ([TimedSentence("a", -1.0, 1.0)], {}, "sentences[0]"),
        ([TimedSentence("a", 0.0, 1.0, (TimedWord("a", 0.0, math.inf),))], {}, "sentences[0].words"),
        ([TimedSentence("a", 0.0, 1.0)], {"max_seconds": 0.0}, "max_seconds"),
        ([TimedSentence("a", 0.0, 1.0)], {"max_lines": 0}, "max_lines"),
        ([TimedSentence("a", 0.0, 1.0)], {"cjk_line_characters": 0}, "cjk_line_characters"),
    ],
)
def test_bad_input_is_refused_naming_the_field(sentences, options, field):
    with pytest.raises(NarrationInputError) as raised:
        shape_cues(sentences, **options)
    assert raised.value.field == field


def test_cue_text_joins_latin_lines_with_a_space_and_cjk_lines_without():
    assert Cue(0, 1, ("Hello", "world")).text == "Hello world"
    assert Cue(0, 1, ("你好", "世界")).text == "你好世界"
    assert Cue(0, 1, ("我用", "Python")).text == "我用 Python"


# ---------------------------------------------------------------- SRT and WebVTT through pysubs2

AWKWARD_CUES = [
    Cue(0.5, 2.25, ("if a --> b then", "<b>c</b> & {d}")),
    Cue(2.3, 4.0, (r"C:\new folder", r"a \N b")),
    Cue(4.0, 5.5, ("你好，世界。",)),
]


def read_back(text: str, format_: str) -> list[tuple[int, int, tuple[str, ...]]]:
    subtitles = pysubs2.SSAFile.from_string(text, format_=format_, keep_html_tags=True)
    return [(e.start, e.end, tuple(line.replace("\u2060", "") for line in e.text.split(r"\N"))) for e in subtitles]


def expected(cues: list[Cue]) -> list[tuple[int, int, tuple[str, ...]]]:
    return [(round(c.start_seconds * 1000), round(c.end_seconds * 1000), c.lines) for c in cues]


def test_srt_keeps_the_text_as_written_and_reads_back():
    srt = rendered(AWKWARD_CUES, "srt")
    assert "if a --> b then\n<b>c</b> & {d}\n" in srt
    assert read_back(srt, "srt") == expected(AWKWARD_CUES)


def test_vtt_starts_with_its_header_escapes_markup_and_reads_back():
    vtt = rendered(AWKWARD_CUES, "vtt")
    assert vtt.startswith("WEBVTT")
    text_lines = [line for line in vtt.splitlines()[1:] if line and "-->" in line and not line[0].isdigit()]
    assert text_lines == []  # "-->" appears only in timing lines
    assert "if a --&gt; b then\n&lt;b&gt;c&lt;/b&gt; &amp; {d}\n" in vtt
    unescaped = [(s, e, tuple(html.unescape(line) for line in lines)) for s, e, lines in read_back(vtt, "vtt")]
    assert unescaped == expected(AWKWARD_CUES)


@settings(max_examples=30, deadline=None)
@given(timed_sentences())
def test_shaped_cues_survive_both_formats(sentences):
    cues = shape_cues(sentences)
    assert read_back(rendered(cues, "srt"), "srt") == expected(cues)
    vtt = read_back(rendered(cues, "vtt"), "vtt")
    assert [(s, e, tuple(html.unescape(line) for line in lines)) for s, e, lines in vtt] == expected(cues)


@settings(max_examples=30, deadline=None)
@given(timed_sentences())
def test_events_made_as_written_give_the_file_pysubs2_writes_from_every_event(sentences):
    """The writer makes each event as pysubs2 writes it; a pysubs2 that took them some other way would show here."""
    cues = shape_cues(sentences)
    for kind in SUBTITLE_FORMATS:
        every_event = pysubs2.SSAFile()
        every_event.events = [_event(cue, vtt=kind == "vtt") for cue in cues]
        written = io.StringIO()
        every_event.to_file(written, kind, keep_ssa_tags=True)
        assert rendered(cues, kind) == written.getvalue()


def test_text_that_looks_like_a_substation_drawing_is_written_not_dropped():
    """pysubs2 leaves out events holding a SubStation drawing tag ("{\\p1}"); in a narration that is the
    author's text, and its cue is written like any other."""
    cues = [Cue(0.0, 1.0, (r"draw {\p1} m 0 0",)), Cue(1.2, 2.0, ("after",))]
    for kind in SUBTITLE_FORMATS:
        assert [lines for _, _, lines in read_back(rendered(cues, kind), kind)] == [(r"draw {\p1} m 0 0",), ("after",)]


@pytest.mark.parametrize("folder", ["memory://subtitle-files", "local"])
def test_subtitle_files_are_streamed_to_any_filesystem_as_rendered(folder, tmp_path):
    folder = str(tmp_path) if folder == "local" else folder
    write_subtitle_file(f"{folder}/book.srt", "srt", AWKWARD_CUES)
    write_subtitle_file(f"{folder}/book.vtt", "vtt", AWKWARD_CUES)
    fs, root = fsspec.core.url_to_fs(folder)
    assert fs.cat_file(f"{root}/book.srt").decode("utf-8") == rendered(AWKWARD_CUES, "srt")
    assert fs.cat_file(f"{root}/book.vtt").decode("utf-8") == rendered(AWKWARD_CUES, "vtt")
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)) == ["book.srt", "book.vtt"]


def test_a_subtitle_file_of_an_unknown_kind_is_refused(tmp_path):
    with pytest.raises(ValueError, match="subtitle format"):
        write_subtitle_file(str(tmp_path / "book.ass"), "ass", AWKWARD_CUES)
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind
