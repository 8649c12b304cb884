"""Chapters: ID3 CHAP/CTOC in joined MP3 segments, and ADTS AAC remuxed (not re-encoded) into an M4B with chapters."""

from __future__ import annotations

import shutil

import av
import pytest
from mutagen.id3 import ID3, CTOCFlags

from speech_audio import espeak
from speech_audio.codec import PcmEncoder, decode_pcm, decoded_samples_of_file
from speech_audio.encodings import AudioEncoding, AudioKind
from tasks.errors import NarrationInputError
from tasks.output.chapters import ChapterMark, checked_chapters, remux_to_m4b, write_mp3_chapters

RATE = espeak.sample_rate()
PARAGRAPHS = [
    ("Chapter one: the harbour", "The boats came in before dawn, heavy with the night's catch."),
    ("Глава вторая", "Then the market opened, and the town woke up around it."),
    ("第三章", "By noon the square was empty again, and the gulls had it to themselves."),
]
TOLERANCE = 0.05


@pytest.fixture(scope="module")
def narration(tmp_path_factory) -> dict:
    """About 10 s of speech in three paragraphs, as MP3 and ADTS AAC made the way assembly makes them."""
    folder = tmp_path_factory.mktemp("chapters")
    pieces = [espeak.synthesize(text, "en-us", 1.0) for _, text in PARAGRAPHS]
    marks, start = [], 0
    for (title, _), pcm in zip(PARAGRAPHS, pieces, strict=True):
        length = len(pcm) // 2
        marks.append(ChapterMark(title, start / RATE, (start + length) / RATE))
        start += length
    files = {}
    for kind in (AudioKind.MP3, AudioKind.AAC):
        files[kind] = str(folder / f"joined.{kind.value}")
        with open(files[kind], "wb") as output:  # two segments joined byte for byte, as assembly does
            for half in (pieces[:2], pieces[2:]):
                with PcmEncoder(output, kind, RATE, fragment=True) as encoder:
                    for pcm in half:
                        encoder.write(pcm)
    assert 8 < start / RATE < 14
    return {"marks": marks, "files": files, "folder": folder}


def chapters_read_by_ffmpeg(path: str) -> list[tuple[str, float, float]]:
    with av.open(path) as container:
        found = [
            (
                chapter["metadata"].get("title"),
                float(chapter["start"] * chapter["time_base"]),
                float(chapter["end"] * chapter["time_base"]),
            )
            for chapter in container.chapters()
        ]
    return found  # in the file's order: FFmpeg lists ID3 chapters in the order of their frames


def assert_same_chapters(found: list[tuple[str, float, float]], marks: list[ChapterMark]) -> None:
    assert [title for title, _, _ in found] == [mark.title for mark in marks]
    for (_, start, end), mark in zip(found, marks, strict=True):
        assert start == pytest.approx(mark.start_seconds, abs=TOLERANCE)
        assert end == pytest.approx(mark.end_seconds, abs=TOLERANCE)


def test_mp3_chapters_are_read_back_by_ffmpeg_and_mutagen(narration, tmp_path):
    path = str(tmp_path / "book.mp3")
    shutil.copy(narration["files"][AudioKind.MP3], path)
    samples_before = decoded_samples_of_file(path, AudioEncoding(kind=AudioKind.MP3), RATE)
    marks = narration["marks"]

    write_mp3_chapters(path, marks, title="Harbour days")

    assert_same_chapters(chapters_read_by_ffmpeg(path), marks)
    with av.open(path) as container:
        assert container.metadata.get("title") == "Harbour days"
    tags = ID3(path)
    chapters = tags.getall("CHAP")  # in the file's order
    assert [frame.sub_frames["TIT2"].text[0] for frame in chapters] == [mark.title for mark in marks]
    assert [frame.start_time for frame in chapters] == [round(mark.start_seconds * 1000) for mark in marks]
    [toc] = tags.getall("CTOC")
    assert toc.flags == CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED
    assert toc.child_element_ids == [frame.element_id for frame in chapters]  # the table lists them in time order
    assert decoded_samples_of_file(path, AudioEncoding(kind=AudioKind.MP3), RATE) == samples_before


def test_writing_chapters_again_replaces_them(narration, tmp_path):
    path = str(tmp_path / "book.mp3")
    shutil.copy(narration["files"][AudioKind.MP3], path)
    write_mp3_chapters(path, narration["marks"])
    shorter = [ChapterMark("All of it", 0.0, narration["marks"][-1].end_seconds)]
    write_mp3_chapters(path, shorter)
    assert_same_chapters(chapters_read_by_ffmpeg(path), shorter)
    assert len(ID3(path).getall("CTOC")) == 1


def adts_payloads(path: str) -> list[bytes]:
    """Each ADTS frame without its header (7 bytes, or 9 with a CRC): what MP4 stores."""
    with av.open(path, format="aac") as container:
        frames = [bytes(packet) for packet in container.demux() if packet.size]
    return [frame[7 if frame[1] & 1 else 9 :] for frame in frames]


def test_aac_is_remuxed_into_an_m4b_with_chapters_without_re_encoding(narration):
    adts = narration["files"][AudioKind.AAC]
    m4b = str(narration["folder"] / "book.m4b")
    marks = narration["marks"]

    remux_to_m4b(adts, m4b, marks, title="Harbour days")

    assert_same_chapters(chapters_read_by_ffmpeg(m4b), marks)
    with av.open(m4b) as container:
        assert container.metadata["major_brand"].strip() == "M4B"
        assert container.metadata["title"] == "Harbour days"
        audio = container.streams.audio[0]
        copied = [bytes(packet) for packet in container.demux(audio) if packet.size]
    assert copied == adts_payloads(adts)  # the same encoded frames, byte for byte
    source_samples = decoded_samples_of_file(adts, AudioEncoding(kind=AudioKind.AAC), RATE)
    remuxed_samples = decoded_samples_of_file(m4b, AudioEncoding(kind=AudioKind.M4A), RATE)
    assert abs(remuxed_samples - source_samples) <= 1024


def test_the_m4b_decodes_to_the_same_samples(narration):
    m4b = str(narration["folder"] / "same-audio.m4b")
    remux_to_m4b(narration["files"][AudioKind.AAC], m4b, narration["marks"])
    with open(m4b, "rb") as file:
        remuxed = b"".join(decode_pcm(file, AudioEncoding(kind=AudioKind.M4A), RATE))
    with open(narration["files"][AudioKind.AAC], "rb") as file:
        original = b"".join(decode_pcm(file, AudioEncoding(kind=AudioKind.AAC), RATE))
    assert len(original) > 8 * RATE * 2 and remuxed == original


@pytest.mark.parametrize(
    ("chapters", "complaint"),
    [
        ([ChapterMark(" ", 0.0, 1.0)], "no title"),
        ([ChapterMark("A", -1.0, 1.0)], "0 s or later"),
        ([ChapterMark("A", 2.0, 2.0)], "end after it starts"),
        ([ChapterMark("A", 0.0, 2.0), ChapterMark("B", 1.5, 3.0)], "starts before chapter 1 ends"),
        ([ChapterMark("A", 3.0, 4.0), ChapterMark("B", 0.0, 1.0)], "starts before chapter 1 ends"),
    ],
)
def test_bad_chapters_are_refused_naming_the_field(chapters, complaint):
    with pytest.raises(NarrationInputError) as raised:
        checked_chapters(chapters)
    assert raised.value.field == "chapters"
    assert complaint in str(raised.value)


def test_good_chapters_pass_unchanged():
    marks = [ChapterMark("A", 0.0, 1.0), ChapterMark("B", 1.0, 2.5), ChapterMark("C", 3.0, 4.0)]
    assert checked_chapters(marks) == marks
