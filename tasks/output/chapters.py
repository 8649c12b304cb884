"""Chapter marks in the published file: ID3 CHAP/CTOC frames in an MP3, a chapter track in an M4B audiobook.

MP3 narrations are made by joining encoded segments, so no encoder ever sees the chapters: the ID3
tag is written around the joined file afterwards (mutagen). AAC narrations are joined as ADTS, which
has no place for chapters; they are remuxed, packet for packet, into MP4 (the .m4b audiobook form)
with the chapters in it, so nothing is encoded twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
from mutagen.id3 import CHAP, CTOC, ID3, TIT2, CTOCFlags, Encoding, ID3NoHeaderError
from mutagen.id3._tags import save_frame

from tasks.errors import NarrationInputError

MILLISECONDS = Fraction(1, 1000)  # ID3 CHAP counts milliseconds; the M4B gets the same resolution
NO_BYTE_OFFSET = 0xFFFFFFFF  # CHAP: "use the times, not byte offsets"
ID3_VERSION = 3  # ID3v2.3: the version podcast players read most widely (mutagen stores UTF-16 text there)
AUDIOBOOK_MEDIA_TYPE = "2"  # the MP4 'stik' value Apple's players file under Audiobooks


@dataclass(frozen=True)
class ChapterMark:
    """One chapter: its title and where it starts and ends in the narration, in seconds."""

    title: str
    start_seconds: float
    end_seconds: float


def checked_chapters(chapters: Sequence[ChapterMark]) -> list[ChapterMark]:
    """The chapters, if each has a title and a positive length and none starts before the previous one ends."""
    previous_end = 0.0
    for number, chapter in enumerate(chapters, start=1):
        if not chapter.title.strip():
            raise NarrationInputError("chapters", f"chapter {number} has no title")
        if not 0 <= chapter.start_seconds < chapter.end_seconds:
            raise NarrationInputError(
                "chapters",
                f"chapter {number} ({chapter.title!r}) must start at 0 s or later and end after it starts "
                f"(got {chapter.start_seconds} s to {chapter.end_seconds} s)",
            )
        if chapter.start_seconds < previous_end:
            raise NarrationInputError(
                "chapters", f"chapter {number} ({chapter.title!r}) starts before chapter {number - 1} ends"
            )
        previous_end = chapter.end_seconds
    return list(chapters)


class _ChaptersInTimeOrder(ID3):
    """An ID3 tag whose CHAP frames are written in time order, after the other frames.

    mutagen writes frames shortest first, so a long chapter title moved its chapter to the end; FFmpeg
    (and the media servers built on it) lists ID3 chapters in frame order, whatever the CTOC frame says.
    """

    # mutagen's private hook for the frames' bytes (ID3.save calls it; checked with mutagen 1.48, the pinned version)
    def _write(self, config):
        chapters = sorted(self.getall("CHAP"), key=lambda frame: (frame.start_time, frame.end_time))
        self.delall("CHAP")
        try:
            others = super()._write(config)
        finally:
            for frame in chapters:
                self.add(frame)
        return others + b"".join(save_frame(frame, config=config) for frame in chapters)


def _milliseconds(seconds: float) -> int:
    return round(seconds * 1000)


def write_mp3_chapters(path: str, chapters: Sequence[ChapterMark], *, title: str | None = None) -> None:
    """Write one CHAP frame per chapter and a top-level, ordered CTOC into the MP3 at the local `path`.

    Chapters already in the tag are replaced; other frames are kept. `title` becomes the file's
    and the table of contents' title.
    """
    marks = checked_chapters(chapters)
    try:
        tags = _ChaptersInTimeOrder(path)
    except ID3NoHeaderError:  # joined segments carry no tag of their own
        tags = _ChaptersInTimeOrder()
    tags.delall("CHAP")
    tags.delall("CTOC")
    element_ids = [f"chp{index}" for index in range(len(marks))]
    for element_id, mark in zip(element_ids, marks, strict=True):
        tags.add(
            CHAP(
                element_id=element_id,
                start_time=_milliseconds(mark.start_seconds),
                end_time=_milliseconds(mark.end_seconds),
                start_offset=NO_BYTE_OFFSET,
                end_offset=NO_BYTE_OFFSET,
                sub_frames=[TIT2(encoding=Encoding.UTF8, text=[mark.title])],
            )
        )
    toc_titles = [TIT2(encoding=Encoding.UTF8, text=[title])] if title else []
    tags.add(
        CTOC(
            element_id="toc",
            flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
            child_element_ids=element_ids,
            sub_frames=toc_titles,
        )
    )
    if title:
        tags.setall("TIT2", [TIT2(encoding=Encoding.UTF8, text=[title])])
    tags.save(path, v2_version=ID3_VERSION)


def remux_to_m4b(
    adts_aac_path: str, output_path: str, chapters: Sequence[ChapterMark], *, title: str | None = None
) -> None:
    """Copy the ADTS AAC packets at `adts_aac_path` into an M4B at `output_path`, with the chapters; no re-encoding.

    FFmpeg's MP4 muxer inserts the aac_adtstoasc bitstream filter itself (ADTS headers off, the
    decoder configuration into the header), writes the chapters as a QuickTime chapter track
    (what Apple's players read), and with faststart puts the index in front for streaming.
    """
    marks = checked_chapters(chapters)
    with av.open(adts_aac_path, mode="r", format="aac") as source:
        stream = source.streams.audio[0]
        with av.open(
            output_path, mode="w", format="ipod", options={"brand": "M4B ", "movflags": "+faststart"}
        ) as target:
            copied = target.add_stream_from_template(stream)
            target.set_chapters(
                [
                    {
                        "id": index,
                        "start": _milliseconds(mark.start_seconds),
                        "end": _milliseconds(mark.end_seconds),
                        "time_base": MILLISECONDS,
                        "metadata": {"title": mark.title},
                    }
                    for index, mark in enumerate(marks)
                ]
            )
            target.metadata["media_type"] = AUDIOBOOK_MEDIA_TYPE
            if title:
                target.metadata["title"] = title
            for packet in source.demux(stream):
                if packet.dts is None:  # the demuxer's final empty packet
                    continue
                packet.stream = copied
                target.mux(packet)
